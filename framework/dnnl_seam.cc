// The only file that knows which oneDNN it is built against: the 2.x op-descriptor API
// (convolution_forward::desc and friends) appears nowhere else.
#include "framework/dnnl_seam.h"

#include <dnnl_version.h>

#include <pmmintrin.h>
#include <xmmintrin.h>

#include <omp.h>

#include <atomic>
#include <optional>

#include "framework/backend.h"
#include "framework/error.h"

static_assert(DNNL_VERSION_MAJOR == 2,
              "framework/dnnl_seam.cc uses oneDNN 2.x op descriptors (Debian 12's 2.6.3)");

namespace obo::dnn {

using dnnl::algorithm;
using dnnl::prop_kind;
using tag = memory::format_tag;

namespace {

void flush_denormals() {
  // Late in training, gradients and small weights underflow to subnormal floats, which x86 cores
  // compute with microcode assists: NIN-FC's epochs slowed from 870 to 650 images/s. Flushing
  // them to zero (as TensorFlow does) costs nothing measurable in accuracy. MXCSR is per thread:
  // set it on every OpenMP thread, which oneDNN's kernels run on too.
#pragma omp parallel
  _mm_setcsr(_mm_getcsr() | _MM_FLUSH_ZERO_ON | _MM_DENORMALS_ZERO_ON);
}

}  // namespace

dnnl::engine& engine() {
  static dnnl::engine cpu = [] {
    flush_denormals();
    return dnnl::engine(dnnl::engine::kind::cpu, 0);
  }();
  return cpu;
}

dnnl::stream& stream() {
  static dnnl::stream s(engine());
  return s;
}

memory::dims dims(const Shape& shape) { return memory::dims(shape.begin(), shape.end()); }

memory::desc plain_desc(const Shape& shape) {
  static const tag by_rank[] = {tag::undef, tag::a, tag::ab, tag::abc, tag::abcd, tag::abcde};
  if (shape.empty() || shape.size() > 5) fail("no plain layout for shape {}", to_string(shape));
  return memory::desc(dims(shape), memory::data_type::f32, by_rank[shape.size()]);
}

memory::desc any_desc(const Shape& shape) {
  return memory::desc(dims(shape), memory::data_type::f32, tag::any);
}

namespace {

// A oneDNN memory descriptor as a tensor's Layout.
class DnnLayout : public Layout {
 public:
  DnnLayout(const memory::desc& md, float scale) : md_(md), scale_(scale) {}
  const memory::desc& md() const { return md_; }
  float scale() const override { return scale_; }

  Shape shape() const override {
    const memory::dims d = md_.dims();
    return Shape(d.begin(), d.end());
  }
  size_t floats() const override { return (md_.get_size() + sizeof(float) - 1) / sizeof(float); }
  void to_plain(const float* stored, float* plain) const override {
    run(to_plain_, stored, plain, md_, plain_desc(shape()), scale_);
  }
  void from_plain(const float* plain, float* stored) const override {
    run(from_plain_, plain, stored, plain_desc(shape()), md_, 1 / scale_);
  }

 private:
  struct Reorder {
    memory from, to;
    dnnl::reorder primitive;
    Args args;
  };
  static void run(std::optional<Reorder>& r, const float* from, float* to, const memory::desc& from_md,
                  const memory::desc& to_md, float scale) {
    if (!r) {
      Reorder made{unbound(from_md), unbound(to_md), {}, {}};
      made.primitive = create_reorder(made.from, made.to, scale);
      made.args = reorder_args(made.from, made.to);
      r = std::move(made);
    }
    r->from.set_data_handle(const_cast<float*>(from));
    r->to.set_data_handle(to);
    execute(r->primitive, r->args);
    stream().wait();
  }
  memory::desc md_;
  float scale_;
  mutable std::optional<Reorder> to_plain_, from_plain_;  // built on first use, then reused
};

}  // namespace

memory::desc desc_of(const Tensor& t) {
  return t.plain() ? plain_desc(t.shape()) : static_cast<const DnnLayout&>(*t.layout()).md();
}

memory::data_type data_type(const std::optional<Quantized>& q) {
  return !q ? memory::data_type::f32 : q->is_unsigned ? memory::data_type::u8 : memory::data_type::s8;
}

memory::desc retyped(memory::desc md, memory::data_type type) {
  md.data.data_type = static_cast<dnnl_data_type_t>(type);
  return md;
}

namespace {

bool has_vnni() {
  const auto isa = static_cast<unsigned>(dnnl::get_effective_cpu_isa());
  const auto has = [&](dnnl_cpu_isa_t bits) { return (isa & bits) == static_cast<unsigned>(bits); };
  return has(dnnl_cpu_isa_avx512_core_vnni) || has(dnnl_cpu_isa_avx2_vnni);
}

}  // namespace

int int8_unsigned_limit() { return has_vnni() ? 255 : 127; }

int int8_weight_limit(const memory::desc& weights, bool unsigned_input) {
  const bool halved = weights.data.extra.flags & dnnl_memory_extra_flag_scale_adjust;
  return has_vnni() || unsigned_input || halved ? 127 : 63;
}

float scale_of(const Tensor& t) { return t.plain() ? 1.f : t.layout()->scale(); }

memory unbound(const memory::desc& md) { return memory(md, engine(), DNNL_MEMORY_NONE); }

void SameLayoutOps::init(const dnnl::primitive_desc_base& forward, const dnnl::primitive_desc_base& backward) {
  const memory::desc md = forward.src_desc();
  x_ = unbound(md);
  y_ = unbound(md);
  dy_ = unbound(md);
  dx_ = unbound(md);
  forward_ = create(forward);
  backward_ = create(backward);
  forward_args_ = {{DNNL_ARG_SRC, x_}, {DNNL_ARG_DST, y_}};
  backward_args_ = {{reads_, reads_output() ? y_ : x_}, {DNNL_ARG_DIFF_DST, dy_}, {DNNL_ARG_DIFF_SRC, dx_}};
  if (!forward.workspace_desc().is_zero()) {
    workspace_ = memory(forward.workspace_desc(), engine());
    forward_args_.set(DNNL_ARG_WORKSPACE, workspace_);
    backward_args_.set(DNNL_ARG_WORKSPACE, workspace_);
  }
}

void SameLayoutOps::forward(const Tensor& x, Tensor& y) {
  x_.set_data_handle(const_cast<float*>(x.data()));
  y_.set_data_handle(y.data());
  execute(forward_, forward_args_);
}

void SameLayoutOps::backward(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor& dx) {
  x_.set_data_handle(const_cast<float*>(x.data()));
  y_.set_data_handle(const_cast<float*>(y.data()));
  dy_.set_data_handle(const_cast<float*>(dy.data()));
  dx_.set_data_handle(dx.data());
  execute(backward_, backward_args_);
}

LayoutPtr layout_of(const memory::desc& md, float scale) {
  const memory::dims d = md.dims();
  if (md == plain_desc(Shape(d.begin(), d.end()))) return nullptr;
  return std::make_shared<const DnnLayout>(md, scale);
}

Args::Args(std::initializer_list<std::pair<int, memory>> args) {
  for (const auto& [arg, m] : args) set(arg, m);
}

void Args::set(int arg, const memory& m) {
  for (size_t i = 0; i < c_.size(); ++i)
    if (c_[i].arg == arg) {
      memories_[i] = m;
      c_[i].memory = m.get();
      return;
    }
  memories_.push_back(m);
  c_.push_back({arg, m.get()});
}

Args reorder_args(const memory& from, const memory& to) { return {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}}; }

void Arg::init(const memory::desc& tensor_md, const memory::desc& primitive_md, float tensor_scale,
               float primitive_scale) {
  user_ = unbound(tensor_md);
  converts_ = tensor_md != primitive_md || tensor_scale != primitive_scale;
  if (converts_) {
    primitive_ = memory(primitive_md, engine());  // owns its buffer
    to_primitive_ = create_reorder(user_, primitive_, tensor_scale / primitive_scale);
    to_user_ = create_reorder(primitive_, user_, primitive_scale / tensor_scale);
    to_primitive_args_ = reorder_args(user_, primitive_);
    to_user_args_ = reorder_args(primitive_, user_);
  } else {
    primitive_ = user_;
  }
}

void Arg::read(const Tensor& t) {
  user_.set_data_handle(const_cast<float*>(t.data()));
  if (converts_) execute(to_primitive_, to_primitive_args_);
}

void Arg::bind(Tensor& t) { user_.set_data_handle(t.data()); }

void Arg::write(Tensor& t) {
  if (!converts_) return;
  user_.set_data_handle(t.data());
  execute(to_user_, to_user_args_);
}

void execute(const dnnl::primitive& p, const Args& args) {
  dnnl::error::wrap_c_api(dnnl_primitive_execute(p.get(), stream().get(), args.size(), args.data()),
                          "could not execute a primitive");
}

namespace {
std::atomic<int64_t> g_primitives{0};
}

int64_t primitives_created() { return g_primitives.load(); }

dnnl::primitive create(const dnnl::primitive_desc_base& pd) {
  ++g_primitives;
  return dnnl::primitive(pd.get());
}

dnnl::reorder create_reorder(const memory& from, const memory& to, float scale) {
  dnnl::primitive_attr attr;
  if (scale != 1) attr.set_output_scales(0, {scale});
  return create_reorder(from, to, attr);
}

dnnl::reorder create_reorder(const memory& from, const memory& to, const dnnl::primitive_attr& attr) {
  ++g_primitives;
  return dnnl::reorder(from, to, attr);
}

namespace {

algorithm conv_algorithm(ConvAlgorithm alg) {
  return alg == ConvAlgorithm::kWinograd ? algorithm::convolution_auto : algorithm::convolution_direct;
}

}  // namespace

namespace {
prop_kind forward_kind(bool training) { return training ? prop_kind::forward_training : prop_kind::forward_inference; }
}  // namespace

dnnl::convolution_forward::primitive_desc conv_forward(ConvAlgorithm alg, const memory::desc& src,
                                                       const memory::desc& weights,
                                                       const memory::desc& bias,
                                                       const memory::desc& dst, const Window& w,
                                                       bool training, const dnnl::primitive_attr& attr) {
  // A float convolution asks for oneDNN's forward_training kernels in inference too: with no
  // workspace to keep, they compute the same. On AVX-512, oneDNN 2.6 answers forward_inference
  // with its brgconv kernels, which keep activations NHWC; its forward_training jit kernels keep
  // them in 16-channel blocks, where on this project's Xeon guest both the convolutions and the
  // max-pools after them ran faster (NIN's inference pass at batch 256: 62 to 65 ms a pass with
  // brgconv, 51 to 53 without; its max-pools 3.6 + 1.4 ms on NHWC, 2.0 + 0.8 on the blocks).
  // Held to AVX2 both kinds get the same jit kernels. int8 keeps forward_inference: asked for
  // forward_training, an int8 NIN ran no faster at batch 8 or 256 (A/B runs within the noise).
  // Winograd in inference needed forward_training already: forward_inference's Winograd kernel
  // wants its weights in a Winograd-domain format that oneDNN 2.6 has no reorder into from f32.
  const bool float_src = src.data_type() == memory::data_type::f32;
  const prop_kind kind = forward_kind(training || float_src);
  if (alg == ConvAlgorithm::kWinograd && !training) {
    // Inference asks for Winograd by name wherever oneDNN has a kernel for it; training leaves
    // the choice to convolution_auto.
    try {
      dnnl::convolution_forward::desc d(kind, algorithm::convolution_winograd, src, weights, bias, dst, w.strides,
                                        w.pad_l, w.pad_r);
      return {d, attr, engine()};
    } catch (const dnnl::error&) {  // no Winograd kernel for this machine or shape
      alg = ConvAlgorithm::kDirect;
    }
  }
  dnnl::convolution_forward::desc d(kind, conv_algorithm(alg), src, weights, bias, dst, w.strides, w.pad_l, w.pad_r);
  return {d, attr, engine()};
}

dnnl::convolution_backward_data::primitive_desc conv_backward_data(
    ConvAlgorithm alg, const memory::desc& diff_src, const memory::desc& weights, const memory::desc& diff_dst,
    const Window& w, const dnnl::convolution_forward::primitive_desc& hint) {
  dnnl::convolution_backward_data::desc d(conv_algorithm(alg), diff_src, weights,
                                          diff_dst, w.strides, w.pad_l, w.pad_r);
  return {d, engine(), hint};
}

dnnl::convolution_backward_weights::primitive_desc conv_backward_weights(
    ConvAlgorithm alg, const memory::desc& src, const memory::desc& diff_weights, const memory::desc& diff_bias,
    const memory::desc& diff_dst, const Window& w,
    const dnnl::convolution_forward::primitive_desc& hint) {
  dnnl::convolution_backward_weights::desc d(conv_algorithm(alg), src, diff_weights,
                                             diff_bias, diff_dst, w.strides, w.pad_l, w.pad_r);
  return {d, engine(), hint};
}

bool runs_winograd(const dnnl::convolution_forward::primitive_desc& pd) {
  const dnnl_convolution_desc_t* d = nullptr;
  dnnl::error::wrap_c_api(dnnl_primitive_desc_query(pd.get(), dnnl_query_convolution_d, 0, &d),
                          "could not query a convolution descriptor");
  return d->alg_kind == dnnl_convolution_winograd;
}

dnnl::matmul::primitive_desc matmul(const memory::desc& src, const memory::desc& weights, const memory::desc& dst) {
  return {dnnl::matmul::desc(src, weights, dst), engine()};
}

dnnl::pooling_forward::primitive_desc pooling_forward(algorithm alg, const memory::desc& src,
                                                      const memory::desc& dst, const Window& w, bool training) {
  dnnl::pooling_forward::desc d(forward_kind(training), alg, src, dst, w.strides, w.kernel,
                                w.pad_l, w.pad_r);
  return {d, engine()};
}

dnnl::pooling_backward::primitive_desc pooling_backward(
    algorithm alg, const memory::desc& diff_src, const memory::desc& diff_dst, const Window& w,
    const dnnl::pooling_forward::primitive_desc& hint) {
  dnnl::pooling_backward::desc d(alg, diff_src, diff_dst, w.strides, w.kernel, w.pad_l, w.pad_r);
  return {d, engine(), hint};
}

namespace {

algorithm eltwise_algorithm(PostOp::Function f, bool from_output) {
  using F = PostOp::Function;
  switch (f) {
    case F::kRelu: return from_output ? algorithm::eltwise_relu_use_dst_for_bwd : algorithm::eltwise_relu;
    case F::kElu: return from_output ? algorithm::eltwise_elu_use_dst_for_bwd : algorithm::eltwise_elu;
    case F::kTanh: return from_output ? algorithm::eltwise_tanh_use_dst_for_bwd : algorithm::eltwise_tanh;
    case F::kSigmoid: return from_output ? algorithm::eltwise_logistic_use_dst_for_bwd : algorithm::eltwise_logistic;
    case F::kSqrt: return from_output ? algorithm::eltwise_sqrt_use_dst_for_bwd : algorithm::eltwise_sqrt;
    case F::kExp: return from_output ? algorithm::eltwise_exp_use_dst_for_bwd : algorithm::eltwise_exp;
    case F::kClip: return from_output ? algorithm::eltwise_clip_v2_use_dst_for_bwd : algorithm::eltwise_clip_v2;
    default: break;
  }
  if (from_output) fail("the element-wise function {} has no derivative from its output", static_cast<int>(f));
  switch (f) {
    case F::kSwish: return algorithm::eltwise_swish;
    case F::kGelu: return algorithm::eltwise_gelu_erf;
    case F::kSoftplus: return algorithm::eltwise_soft_relu;
    case F::kMish: return algorithm::eltwise_mish;
    case F::kHardswish: return algorithm::eltwise_hardswish;
    case F::kAbs: return algorithm::eltwise_abs;
    case F::kSquare: return algorithm::eltwise_square;
    case F::kLog: return algorithm::eltwise_log;
    case F::kLinear: return algorithm::eltwise_linear;
    default: break;
  }
  fail("unknown element-wise function {}", static_cast<int>(f));
}

}  // namespace

bool derivative_from_output(const PostOp& f) {
  using F = PostOp::Function;
  switch (f.function) {
    case F::kRelu:
    case F::kElu: return f.alpha >= 0;  // oneDNN's requirement for the _use_dst_for_bwd forms
    case F::kTanh:
    case F::kSigmoid:
    case F::kSqrt:
    case F::kExp:
    case F::kClip: return true;
    default: return false;
  }
}

dnnl::primitive_attr post_op_attr(const std::optional<PostOp>& f, bool add_to_output) {
  dnnl::post_ops ops;
  if (add_to_output) ops.append_sum(1.f);
  if (f) ops.append_eltwise(1.f, eltwise_algorithm(f->function, false), f->alpha, f->beta);  // 2.x: with a scale
  dnnl::primitive_attr attr;
  attr.set_post_ops(ops);
  return attr;
}

dnnl::eltwise_forward::primitive_desc eltwise_forward(const PostOp& f, const memory::desc& data, bool from_output) {
  dnnl::eltwise_forward::desc d(prop_kind::forward_training, eltwise_algorithm(f.function, from_output), data, f.alpha, f.beta);
  return {d, engine()};
}

dnnl::eltwise_backward::primitive_desc eltwise_backward(const PostOp& f, const memory::desc& diff_data,
                                                        const memory::desc& data, bool from_output,
                                                        const dnnl::eltwise_forward::primitive_desc& hint) {
  dnnl::eltwise_backward::desc d(eltwise_algorithm(f.function, from_output), diff_data, data, f.alpha, f.beta);
  return {d, engine(), hint};
}

dnnl::inner_product_forward::primitive_desc inner_product_forward(const memory::desc& src,
                                                                  const memory::desc& weights,
                                                                  const memory::desc& bias,
                                                                  const memory::desc& dst, bool training,
                                                                  const dnnl::primitive_attr& attr) {
  dnnl::inner_product_forward::desc d(forward_kind(training), src, weights, bias, dst);
  return {d, attr, engine()};
}

dnnl::inner_product_backward_data::primitive_desc inner_product_backward_data(
    const memory::desc& diff_src, const memory::desc& weights, const memory::desc& diff_dst,
    const dnnl::inner_product_forward::primitive_desc& hint) {
  dnnl::inner_product_backward_data::desc d(diff_src, weights, diff_dst);
  return {d, engine(), hint};
}

dnnl::inner_product_backward_weights::primitive_desc inner_product_backward_weights(
    const memory::desc& src, const memory::desc& diff_weights, const memory::desc& diff_bias,
    const memory::desc& diff_dst, const dnnl::inner_product_forward::primitive_desc& hint) {
  dnnl::inner_product_backward_weights::desc d(src, diff_weights, diff_bias, diff_dst);
  return {d, engine(), hint};
}

dnnl::logsoftmax_forward::primitive_desc logsoftmax_forward(const memory::desc& data, int axis) {
  dnnl::logsoftmax_forward::desc d(prop_kind::forward_training, data, axis);
  return {d, engine()};
}

dnnl::softmax_forward::primitive_desc softmax_forward(const memory::desc& data, int axis) {
  dnnl::softmax_forward::desc d(prop_kind::forward_training, data, axis);
  return {d, engine()};
}

dnnl::softmax_backward::primitive_desc softmax_backward(const memory::desc& diff, const memory::desc& data, int axis,
                                                        const dnnl::softmax_forward::primitive_desc& hint) {
  dnnl::softmax_backward::desc d(diff, data, axis);
  return {d, engine(), hint};
}

namespace {

dnnl::normalization_flags batch_norm_flags(bool batch_statistics) {
  using flags = dnnl::normalization_flags;
  return batch_statistics ? flags::use_scale | flags::use_shift
                          : flags::use_scale | flags::use_shift | flags::use_global_stats;
}

}  // namespace

dnnl::batch_normalization_forward::primitive_desc batch_norm_forward(const memory::desc& data, float epsilon,
                                                                     bool batch_statistics) {
  dnnl::batch_normalization_forward::desc d(prop_kind::forward_training, data, epsilon,
                                            batch_norm_flags(batch_statistics));
  return {d, engine()};
}

dnnl::batch_normalization_backward::primitive_desc batch_norm_backward(
    const memory::desc& diff, const memory::desc& data, float epsilon, bool batch_statistics,
    const dnnl::batch_normalization_forward::primitive_desc& hint) {
  dnnl::batch_normalization_backward::desc d(prop_kind::backward, diff, data, epsilon, batch_norm_flags(batch_statistics));
  return {d, engine(), hint};
}

dnnl::prelu_forward::primitive_desc prelu_forward(const memory::desc& data, const memory::desc& slope) {
  dnnl::prelu_forward::desc d(prop_kind::forward_training, data, slope);
  return {d, engine()};
}

dnnl::prelu_backward::primitive_desc prelu_backward(const memory::desc& data, const memory::desc& slope,
                                                    const memory::desc& diff, const memory::desc& diff_slope,
                                                    const dnnl::prelu_forward::primitive_desc& hint) {
  dnnl::prelu_backward::desc d(data, slope, diff, diff_slope);
  return {d, engine(), hint};
}

dnnl::lrn_forward::primitive_desc lrn_forward(const memory::desc& data, const LrnWindow& w) {
  dnnl::lrn_forward::desc d(prop_kind::forward_training, algorithm::lrn_across_channels, data, w.size, w.alpha, w.beta,
                            w.k);
  return {d, engine()};
}

dnnl::lrn_backward::primitive_desc lrn_backward(const memory::desc& diff, const memory::desc& data, const LrnWindow& w,
                                                const dnnl::lrn_forward::primitive_desc& hint) {
  dnnl::lrn_backward::desc d(algorithm::lrn_across_channels, data, diff, w.size, w.alpha, w.beta, w.k);
  return {d, engine(), hint};
}

dnnl::sum::primitive_desc sum(const memory::desc& dst, const std::vector<memory::desc>& srcs) {
  return {dst, std::vector<float>(srcs.size(), 1.f), srcs, engine()};
}

memory::desc concat_desc(const std::vector<memory::desc>& srcs, const Shape& y) {
  for (const auto& [block, blocked] : {std::pair{16, tag::aBcd16b}, std::pair{8, tag::aBcd8b}}) {
    bool all = true;
    for (const memory::desc& x : srcs)
      all = all && x.dims()[1] % block == 0 && x == memory::desc(x.dims(), memory::data_type::f32, blocked);
    if (all) return memory::desc(dims(y), memory::data_type::f32, blocked);
  }
  return memory::desc(dims(y), memory::data_type::f32, tag::acdb);
}

}  // namespace obo::dnn

namespace obo::backend {

void wait() { dnn::stream().wait(); }

std::optional<std::string> failure(const std::exception& e) {
  if (const auto* error = dynamic_cast<const dnnl::error*>(&e)) return std::string(error->what());
  return std::nullopt;
}

const char* const kName = "oneDNN";

void use_threads(int threads) {
  if (threads > 0) omp_set_num_threads(threads);
  dnn::flush_denormals();  // on the threads now in use
}

}  // namespace obo::backend
