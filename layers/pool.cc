// Pooling on oneDNN: MaxPool and AvgPool (kernel, stride, pad; output size rounds down, as in
// PyTorch) and GlobalAvgPool, whose window is the whole map: NIN's replacement for FC layers.
//   MaxPool 2x2:    (N,C,H,W) -> (N,C,H/2,W/2)
//   GlobalAvgPool:  (N,C,H,W) -> (N,C,1,1)
// Max pooling keeps where each maximum was for the backward pass; in an inference graph it keeps
// none and builds no backward pass. Max-pools on channel-blocked layouts have our own loops
// (ChannelBlockMaxPool): training always runs them, inference runs them or oneDNN's, whichever
// its first passes measure faster on this CPU (Fastest); so do int8 max-pools on NHWC
// (ByteMaxPool). Everything else runs oneDNN's primitives. A max-pool given a concatenation
// (Layer::reads_concatenation) pools its parts where they lie, with our loops: the join is never
// stored.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "framework/dnnl_seam.h"
#include "framework/fastest.h"
#include "framework/registry.h"

namespace obo {
namespace {

enum class Kind { kMax, kAvg, kGlobalAvg };

// Max pooling of our own, on layouts whose channels are innermost in blocks of a multiple of
// eight: nChw8c, nChw16c, and NHWC (one block of all C channels) when C is a multiple of eight.
// oneDNN 2.6's training kernel starts each block of outputs with a legacy-SSE instruction while
// the vector registers are dirty: on Intel each costs an AVX-to-SSE transition (110 to 160 ns on
// this project's Xeon guest), and NIN's max-pools took 1.1 to 2.9 times PyTorch's time in
// training (README). Here the channels of a block are the inner loop, eight at a time in a
// vector register; forward keeps, per output, which element of its window held the maximum (a
// byte), and backward adds each output's gradient there. The first of equal maxima wins, and
// the maximum starts at the lowest finite float, as in oneDNN's kernel (its -FLT_MAX fill): a
// window of -inf gives that, and a NaN is never taken. (Starting at -inf instead let an infinite
// weight's NaNs reach a ReLU, which made them 0, and the divergence test saw a finite loss.)
class ChannelBlockMaxPool {
 public:
  // Whether md is such a layout (plain blocked memory, channels innermost, no offset).
  static bool fits(const dnn::memory::desc& md, int64_t kernel) {
    const dnnl_memory_desc_t& d = md.data;
    if (d.format_kind != dnnl_blocked || d.ndims != 4 || d.offset0 != 0 || kernel * kernel > 255) return false;
    const auto& b = d.format_desc.blocking;
    const bool nhwc = b.inner_nblks == 0 && b.strides[1] == 1 && d.dims[1] % kLanes == 0;
    const bool blocked = b.inner_nblks == 1 && b.inner_idxs[0] == 1 && b.inner_blks[0] % kLanes == 0;
    return nhwc || blocked;
  }
  // Whether it can pool the concatenation of inputs in layouts xs into y without joining them:
  // each fits, and holds a multiple of eight channels, so that no eight lanes straddle two; and
  // each channel block of an input lands in one block of y (y is NHWC, or has the inputs' blocks,
  // each part whole blocks of them: the layout the join would have, dnn::concat_desc).
  static bool fits(const std::vector<dnn::memory::desc>& xs, const dnn::memory::desc& y, int64_t kernel) {
    if (!fits(y, kernel)) return false;
    const int64_t y_block = geometry(y).block;
    const bool parts = xs.size() > 1;
    return std::all_of(xs.begin(), xs.end(), [&](const dnn::memory::desc& x) {
      const int64_t channels = x.dims()[1];
      return fits(x, kernel) && (!parts || channels % kLanes == 0) &&
             (y_block == y.dims()[1] || (geometry(x).block == y_block && (!parts || channels % y_block == 0)));
    });
  }

  // xs: the layout of each input, whose channels in order are y's (one input, or the parts of a
  // concatenation). keep_argmax: forward records where each maximum was, for backward (training).
  void init(const std::vector<dnn::memory::desc>& xs, const dnn::memory::desc& y_md, const dnn::Window& w,
            bool keep_argmax) {
    xs_.clear();
    blocks_.clear();
    x_sizes_.clear();
    y_ = geometry(y_md);
    int64_t first = 0;  // of the part's channels, in y
    for (const dnn::memory::desc& md : xs) {
      const Geometry x = geometry(md);
      // A lone input's padding channels are pooled too, into y's where y has them (zeros into
      // zeros); a part's are not, since in y the next part's channels are there.
      const int64_t channels = xs.size() == 1 ? std::min(x.blocks * x.block, y_.blocks * y_.block) : md.dims()[1];
      for (int64_t c = 0; c < channels; c += x.block)
        blocks_.push_back(
            {static_cast<int64_t>(xs_.size()), x.channel(c), y_.channel(first + c), std::min(x.block, channels - c)});
      xs_.push_back(x);
      x_sizes_.push_back(md.get_size() / sizeof(float));
      first += channels;
    }
    kernel_ = w.kernel[0], stride_ = w.strides[0], pad_ = w.pad_l[0];
    argmax_.assign(keep_argmax ? y_md.get_size() / sizeof(float) : 0, 0);
  }

  // What the speed of these loops depends on: the shapes, layouts and window.
  std::string key() const {
    std::vector<std::string> xs;
    for (const Geometry& x : xs_) xs.push_back(x.describe());
    return fmt::format("max-pool x {} y {} kernel {} stride {} pad {}", fmt::join(xs, " + "), y_.describe(), kernel_,
                       stride_, pad_);
  }

  // VEX-encoded where the CPU has AVX2: legacy-SSE code here would pay the transitions this
  // replaces oneDNN's kernel to avoid. Two things keep the loop in registers: GCC's vector types
  // for the lanes (arrays of lanes stayed in memory and were stored one lane at a time), and each
  // thread's own copies of the geometry and pointers (firstprivate, and locals: shared ones are
  // read again through a pointer after every byte stored, which may alias anything). Before both,
  // NIN's first pool at batch 128 took 1.4 (forward) and 1.6 (backward) times as long on AVX-512
  // and twice as long held to AVX2.
  __attribute__((target_clones("avx2", "default"))) void forward(const std::vector<const float*>& xs, float* y) {
    const Geometry Y = y_;
    const int64_t K = kernel_, S = stride_, P = pad_, blocks = static_cast<int64_t>(blocks_.size());
    const Block* block = blocks_.data();
    const Geometry* geometries = xs_.data();
    const float* const* inputs = xs.data();
    uint8_t* argmax = argmax_.empty() ? nullptr : argmax_.data();
#pragma omp parallel for collapse(3) schedule(static) firstprivate(Y, K, S, P, y, argmax, block, geometries, inputs)
    for (int64_t n = 0; n < Y.n; ++n)
      for (int64_t b = 0; b < blocks; ++b)
        for (int64_t oh = 0; oh < Y.h; ++oh) {
          const Block B = block[b];
          const Geometry X = geometries[B.part];
          const float* x = inputs[B.part];
          for (int64_t ow = 0; ow < Y.w; ++ow) {
            const int64_t o = n * Y.sn + B.y + oh * Y.sh + ow * Y.sw, from = n * X.sn + B.x;
            // Eight channels at a time in vector registers, the maximum and its place chosen
            // without a branch.
            for (int64_t c0 = 0; c0 < B.channels; c0 += kLanes) {
              Floats best = Floats{} + std::numeric_limits<float>::lowest();
              Ints at{};
              window(X, K, S, P, from + c0, oh, ow, [&](int64_t i, int32_t k) __attribute__((always_inline)) {
                Floats in;
                std::memcpy(&in, x + i, sizeof in);
                const Ints larger = in > best;
                best = larger ? in : best;
                at = larger ? Ints{} + k : at;
              });
              const Bytes places = __builtin_convertvector(at, Bytes);
              std::memcpy(y + o + c0, &best, sizeof best);
              if (argmax) std::memcpy(argmax + o + c0, &places, sizeof places);
            }
          }
        }
  }

  // dx = each output's gradient at its maximum, 0 elsewhere (a null dxs[i]: none for input i).
  // Windows of different images or channel blocks never share an input, so each thread owns
  // what it writes. Where the windows tile the input exactly (NIN's and LeNet's 2x2, stride 2),
  // each input is written once and nothing needs zeroing first.
  __attribute__((target_clones("avx2", "default"))) void backward(const float* dy, const std::vector<float*>& dxs) {
    const Geometry Y = y_, X0 = xs_[0];
    const int64_t K = kernel_, S = stride_, P = pad_, blocks = static_cast<int64_t>(blocks_.size());
    const Block* block = blocks_.data();
    const Geometry* geometries = xs_.data();
    float* const* grads = dxs.data();
    const uint8_t* argmax = argmax_.data();
    const bool tiles = S == K && P == 0 && X0.h == Y.h * K && X0.w == Y.w * K;
    if (!tiles)
      for (size_t i = 0; i < dxs.size(); ++i)
        if (dxs[i]) std::memset(dxs[i], 0, x_sizes_[i] * sizeof(float));
#pragma omp parallel for collapse(2) schedule(static) firstprivate(Y, K, S, P, dy, argmax, tiles, block, geometries, grads)
    for (int64_t n = 0; n < Y.n; ++n)
      for (int64_t b = 0; b < blocks; ++b) {
        const Block B = block[b];
        const Geometry X = geometries[B.part];
        float* dx = grads[B.part];
        if (!dx) continue;  // a part that wants no gradient
        for (int64_t oh = 0; oh < Y.h; ++oh)
          for (int64_t ow = 0; ow < Y.w; ++ow) {
            const int64_t o = n * Y.sn + B.y + oh * Y.sh + ow * Y.sw, from = n * X.sn + B.x;
            for (int64_t c0 = 0; c0 < B.channels; c0 += kLanes) {  // as in forward
              Floats g;
              Bytes places;
              std::memcpy(&g, dy + o + c0, sizeof g);
              std::memcpy(&places, argmax + o + c0, sizeof places);
              const Ints at = __builtin_convertvector(places, Ints);
              window(X, K, S, P, from + c0, oh, ow, [&](int64_t i, int32_t k) __attribute__((always_inline)) {
                float* in = dx + i;
                Floats sum = at == k ? g : Floats{};
                if (!tiles) {
                  Floats before;
                  std::memcpy(&before, in, sizeof before);
                  sum += before;
                }
                std::memcpy(in, &sum, sizeof sum);
              });
            }
          }
      }
  }

 private:
  // GCC's vector types: eight lanes, in one register where the CPU has AVX2 (two elsewhere).
  static constexpr int64_t kLanes = 8;
  using Floats = float __attribute__((vector_size(4 * kLanes)));
  using Ints = int32_t __attribute__((vector_size(4 * kLanes)));
  using Bytes = uint8_t __attribute__((vector_size(kLanes)));
  // Element (n, c, h, w) is at n*sn + channel(c) + h*sh + w*sw.
  struct Geometry {
    int64_t n, blocks, block, h, w, sn, sb, sh, sw;
    int64_t channel(int64_t c) const { return c / block * sb + c % block; }
    std::string describe() const {
      return fmt::format("({},{}x{},{},{}) strides ({},{},{},{})", n, blocks, block, h, w, sn, sb, sh, sw);
    }
  };
  // A channel block of an input: which input, its offset there and in y, and how many of its
  // channels are pooled.
  struct Block {
    int64_t part, x, y, channels;
  };
  // Calls visit(offset in x of the element's channels, kh*K + kw) for each element of output
  // (oh, ow)'s K x K window (stride S, padding P) that lies inside x, `from` being the offset of
  // the channels at (0, 0).
  template <typename Visit>
  __attribute__((always_inline)) static void window(const Geometry& X, int64_t K, int64_t S, int64_t P, int64_t from,
                                                    int64_t oh, int64_t ow, Visit&& visit) {
    for (int64_t kh = 0; kh < K; ++kh) {
      const int64_t ih = oh * S - P + kh;
      if (ih < 0 || ih >= X.h) continue;
      for (int64_t kw = 0; kw < K; ++kw) {
        const int64_t iw = ow * S - P + kw;
        if (iw < 0 || iw >= X.w) continue;
        visit(from + ih * X.sh + iw * X.sw, static_cast<int32_t>(kh * K + kw));
      }
    }
  }

  static Geometry geometry(const dnn::memory::desc& md) {
    const dnnl_memory_desc_t& d = md.data;
    const auto& b = d.format_desc.blocking;
    const int64_t block = b.inner_nblks == 0 ? d.dims[1] : b.inner_blks[0];
    return {d.dims[0], d.padded_dims[1] / block, block, d.dims[2], d.dims[3],
            b.strides[0], b.strides[1], b.strides[2], b.strides[3]};
  }

  std::vector<Geometry> xs_;
  std::vector<size_t> x_sizes_;  // floats
  std::vector<Block> blocks_;
  Geometry y_{};
  int64_t kernel_ = 0, stride_ = 0, pad_ = 0;
  std::vector<uint8_t> argmax_;  // at y's offsets; empty in inference
};

// int8 max pooling of our own, on NHWC (acdb: channels innermost, the layout oneDNN's int8
// convolutions write), for u8 and s8: each output pixel is the byte-wise maximum of its window's
// pixels, C contiguous bytes each, which the compiler vectorizes. Held to AVX2 on this project's
// Xeon guest, oneDNN 2.6's jit_int:avx2 kernel took 1.7 ms for Inception's 2x2 pool of 56
// channels at batch 128, 40% of the int8 pass (AVX-to-SSE transitions, as its float kernel
// pays). Padding is never the maximum: windows are clipped to the input, as oneDNN's are. Its
// input may be the parts of a concatenation, each NHWC: their pixels' channels go side by side
// into y's.
class ByteMaxPool {
 public:
  static bool fits(const std::vector<dnn::memory::desc>& xs, const dnn::memory::desc& y) {
    const auto type = y.data_type();
    const auto nhwc = [&](const dnn::memory::desc& md) {
      return md == dnn::memory::desc(md.dims(), type, dnn::memory::format_tag::acdb);
    };
    return (type == dnn::memory::data_type::u8 || type == dnn::memory::data_type::s8) && nhwc(y) &&
           std::all_of(xs.begin(), xs.end(), nhwc);
  }

  void init(const std::vector<dnn::memory::desc>& xs, const dnn::memory::desc& y, const dnn::Window& w) {
    const dnn::memory::dims in = xs[0].dims(), out = y.dims();
    g_ = {in[0], out[1], in[2], in[3], out[2], out[3], w.kernel[0], w.strides[0], w.pad_l[0]};
    channels_.clear();
    for (const dnn::memory::desc& x : xs) channels_.push_back(x.dims()[1]);
    signed_ = y.data_type() == dnn::memory::data_type::s8;
  }

  std::string key() const {
    return fmt::format("int8 max-pool {} ({},{},{},{}) parts {} kernel {} stride {} pad {}", signed_ ? "s8" : "u8", g_.n,
                       g_.c, g_.h, g_.w, fmt::join(channels_, "+"), g_.k, g_.s, g_.p);
  }

  // Tensors store int8 values in float storage: xs and y point at their bytes.
  void forward(const std::vector<const float*>& xs, float* y) const {
    if (signed_)
      run(xs, reinterpret_cast<int8_t*>(y));
    else
      run(xs, reinterpret_cast<uint8_t*>(y));
  }

 private:
  struct Geometry {
    int64_t n, c, h, w, oh, ow, k, s, p;  // c: y's channels
  };

  template <typename T>
  void run(const std::vector<const float*>& xs, T* y) const {
    const Geometry g = g_;
    const int64_t parts = static_cast<int64_t>(xs.size());
    const float* const* inputs = xs.data();
    const int64_t* channels = channels_.data();
#pragma omp parallel for collapse(2) firstprivate(y, g, parts, inputs, channels)
    for (int64_t n = 0; n < g.n; ++n)
      for (int64_t oh = 0; oh < g.oh; ++oh) {
        const int64_t h0 = std::max<int64_t>(oh * g.s - g.p, 0), h1 = std::min(oh * g.s - g.p + g.k, g.h);
        for (int64_t ow = 0; ow < g.ow; ++ow) {
          const int64_t w0 = std::max<int64_t>(ow * g.s - g.p, 0), w1 = std::min(ow * g.s - g.p + g.k, g.w);
          T* __restrict out = y + ((n * g.oh + oh) * g.ow + ow) * g.c;
          for (int64_t part = 0; part < parts; ++part) {
            const T* x = reinterpret_cast<const T*>(inputs[part]);
            const int64_t c = channels[part];
            const T* first = x + ((n * g.h + h0) * g.w + w0) * c;
            for (int64_t i = 0; i < c; ++i) out[i] = first[i];
            for (int64_t ih = h0; ih < h1; ++ih)
              for (int64_t iw = w0; iw < w1; ++iw) {
                const T* __restrict in = x + ((n * g.h + ih) * g.w + iw) * c;
                for (int64_t i = 0; i < c; ++i) out[i] = std::max(out[i], in[i]);
              }
            out += c;
          }
        }
      }
  }

  Geometry g_{};
  std::vector<int64_t> channels_;  // of each part
  bool signed_ = false;
};

class PoolLayer : public Layer {
 public:
  PoolLayer(const LayerParameter& p, Kind kind) : Layer(p), kind_(kind) {
    expect_arity(1, 1, 1);
    if (kind_ == Kind::kGlobalAvg) {
      if (p.has_pool()) error("takes no pool parameters: its window is the whole input");
      return;
    }
    const auto& pool = p.pool();
    if (pool.kernel_size() <= 0 || (pool.has_stride() && pool.stride() <= 0) || pool.pad() < 0)
      error("needs kernel_size > 0, stride > 0, pad >= 0; got {}, {}, {}", pool.kernel_size(),
            pool.stride(), pool.pad());
    if (pool.pad() * 2 > pool.kernel_size())
      error("pad {} is more than half the kernel {}", pool.pad(), pool.kernel_size());
  }

  Shapes output_shapes(const Shapes& in) const override {
    const Shape x = input_shape(in);
    if (x.size() != 4) error("needs an (N,C,H,W) input, got {}", to_string(x));
    const dnn::Window w = window(x);
    const int64_t pad = w.pad_l[0];
    if (x[2] + 2 * pad < w.kernel[0] || x[3] + 2 * pad < w.kernel[1])
      error("a {}x{} window with pad {} does not fit input {}", w.kernel[0], w.kernel[1], pad, to_string(x));
    return {{x[0], x[1], (x[2] + 2 * pad - w.kernel[0]) / w.strides[0] + 1,
             (x[3] + 2 * pad - w.kernel[1]) / w.strides[1] + 1}};
  }

  // A max-pool of a concatenation is the concatenation of the max-pools of its parts: Inception's
  // last pool reads its four branches where they lie, and their join is never copied (on AVX-512
  // that copy cost more than PyTorch's, out of 16-channel blocks into NHWC).
  bool reads_concatenation() const override { return kind_ == Kind::kMax; }

  void reshape(const Ports& in, const Ports& out) override {
    ours_.reset();
    ours_int8_.reset();
    joins_ = false;
    x_ptrs_.assign(in.size(), nullptr);
    dx_ptrs_.assign(in.size(), nullptr);
    if (concatenation() && pool_parts(in, out)) return;
    // One tensor to pool: the input, or where our loops cannot read a concatenation's parts,
    // their join, made here by the concatenation (into a tensor of this layer's own).
    if (concatenation()) {
      joins_ = true;
      x_ptrs_.resize(1);
      dx_ptrs_.resize(1);
      joined_ports_ = {{&joined_, inference_only() ? nullptr : &joined_grad_}};
      concatenation()->reshape(in, joined_ports_);
      if (!inference_only()) joined_grad_.reshape(joined_.shape(), joined_.layout());
    }
    const Tensor& x = joins_ ? joined_ : *in[0].value;
    const Shape y_shape = output_shapes({x.shape()})[0];  // (a concatenation of one tensor is that tensor)
    const dnn::Window window = this->window(x.shape());
    const auto alg = kind_ == Kind::kMax ? dnnl::algorithm::pooling_max
                     : config().pool().count_include_pad() ? dnnl::algorithm::pooling_avg_include_padding
                                                           : dnnl::algorithm::pooling_avg_exclude_padding;
    // In int8 inference the primitive runs in its output's type, at its scale, on the input in
    // its tensor's layout (converted first where the tensor holds another type or scale).
    const std::optional<Quantized> q = int8() ? int8()->out[0] : std::nullopt;
    const auto type = dnn::data_type(q);
    const float scale = q ? q->scale : 1.f;
    const auto x_md = dnn::desc_of(x), src_md = dnn::retyped(x_md, type);
    auto fwd = dnn::pooling_forward(alg, src_md, dnn::memory::desc(dnn::dims(y_shape), type, dnn::memory::format_tag::any),
                                    window, !inference_only());
    out[0].value->reshape(y_shape, dnn::layout_of(fwd.dst_desc(), scale));
    choice_ = Fastest::only(kOneDnn);
    if (kind_ == Kind::kMax && q && x_md == src_md && dnn::scale_of(x) == scale && ByteMaxPool::fits({x_md}, fwd.dst_desc())) {
      ours_int8_.emplace();
      ours_int8_->init({x_md}, fwd.dst_desc(), window);
      choice_ = Fastest(ours_int8_->key(), 2);
    }
    if (kind_ == Kind::kMax && x_md == src_md && !q && ChannelBlockMaxPool::fits({x_md}, fwd.dst_desc(), window.kernel[0])) {
      ours_.emplace();
      ours_->init({x_md}, fwd.dst_desc(), window, !inference_only());
      if (!inference_only()) {  // ours: faster in training on both ISAs here (README)
        choice_ = Fastest::only(kOurs);
        return;
      }
      choice_ = Fastest(ours_->key(), 2);
    }
    src_.init(x_md, src_md, dnn::scale_of(x), scale);
    dst_.init(fwd.dst_desc(), fwd.dst_desc());
    forward_ = dnn::create(fwd);
    fwd_args_ = {{DNNL_ARG_SRC, src_.mem()}, {DNNL_ARG_DST, dst_.mem()}};
    if (inference_only()) return;  // no workspace, no backward
    auto bwd = dnn::pooling_backward(alg, x_md, fwd.dst_desc(), window, fwd);
    diff_dst_.init(fwd.dst_desc(), bwd.diff_dst_desc());
    diff_src_.init(x_md, bwd.diff_src_desc());
    backward_ = dnn::create(bwd);
    bwd_args_ = {{DNNL_ARG_DIFF_DST, diff_dst_.mem()}, {DNNL_ARG_DIFF_SRC, diff_src_.mem()}};
    if (kind_ == Kind::kMax) {
      workspace_ = dnn::memory(fwd.workspace_desc(), dnn::engine());
      fwd_args_.set(DNNL_ARG_WORKSPACE, workspace_);
      bwd_args_.set(DNNL_ARG_WORKSPACE, workspace_);
    }
  }

  void forward(const Ports& in, const Ports& out, const Context& ctx) override {
    if (joins_) concatenation()->forward(in, joined_ports_, ctx);
    const Tensor& x = joins_ ? joined_ : *in[0].value;
    choice_([&](size_t kernel) {
      if (kernel == kOurs) {
        for (size_t i = 0; i < x_ptrs_.size(); ++i) x_ptrs_[i] = x_ptrs_.size() > 1 ? in[i].value->data() : x.data();
        return ours_int8_ ? ours_int8_->forward(x_ptrs_, out[0].value->data()) : ours_->forward(x_ptrs_, out[0].value->data());
      }
      src_.read(x);
      dst_.bind(*out[0].value);
      dnn::execute(forward_, fwd_args_);
    });
  }
  // The same window, padding and rounding down; average pooling counts the padding or not as here.
  // An absorbed concatenation is exported as itself, before the pooling.
  bool to_onnx(OnnxGraph& onnx, const std::vector<OnnxValue>& inputs, const std::vector<OnnxValue>& out) const override {
    std::vector<OnnxValue> in = inputs;
    if (!concatenation_to_onnx(onnx, in)) return false;
    if (kind_ == Kind::kGlobalAvg) {
      onnx.node("GlobalAveragePool", {in[0].name}, {out[0].name});
      return true;
    }
    const dnn::Window w = window(in[0].shape);
    std::vector<OnnxGraph::Attribute> attributes{
        {"kernel_shape", std::vector<int64_t>(w.kernel.begin(), w.kernel.end())},
        {"strides", std::vector<int64_t>(w.strides.begin(), w.strides.end())},
        {"pads", std::vector<int64_t>{w.pad_l[0], w.pad_l[1], w.pad_r[0], w.pad_r[1]}}};
    if (kind_ == Kind::kAvg) attributes.push_back({"count_include_pad", int64_t{config().pool().count_include_pad()}});
    onnx.node(kind_ == Kind::kMax ? "MaxPool" : "AveragePool", {in[0].name}, {out[0].name}, attributes);
    return true;
  }

  // Every output is one of its window's values, or their mean: at the input's scale.
  bool runs_int8() const override { return true; }
  bool keeps_scale() const override { return true; }

  std::string kernel() const override {
    const std::string quantized = computes_int8() ? "int8" : "";
    if (kind_ != Kind::kMax) return quantized;
    if (!choice_.decided()) return "measuring";
    // Where it absorbed a concatenation whose parts our loops cannot read, it joins them first.
    const std::string which = std::string(choice_.next() == kOurs ? "ours" : "oneDNN") + (joins_ ? ", joined first" : "");
    return quantized.empty() ? which : quantized + ", " + which;
  }

  // Max-pool's backward reads its workspace (where each maximum was), average pooling nothing.
  bool backward_reads_input(size_t) const override { return false; }
  bool backward_reads_output(size_t) const override { return false; }
  void backward(const Ports& in, const Ports& out) override {
    Tensor* dx = joins_ ? &joined_grad_ : in[0].grad;
    if (choice_.next() == kOurs) {
      for (size_t i = 0; i < dx_ptrs_.size(); ++i)
        dx_ptrs_[i] = dx_ptrs_.size() > 1 ? (in[i].grad ? in[i].grad->data() : nullptr) : dx->data();
      ours_->backward(out[0].grad->data(), dx_ptrs_);
    } else {
      diff_dst_.read(*out[0].grad);
      diff_src_.bind(*dx);
      dnn::execute(backward_, bwd_args_);
      diff_src_.write(*dx);
    }
    if (joins_) concatenation()->backward(in, joined_ports_);
  }

 private:
  // Kernel, strides and padding for an (N,C,H,W) input: the whole map for GlobalAvgPool.
  dnn::Window window(const Shape& x) const {
    if (kind_ == Kind::kGlobalAvg) return {{x[2], x[3]}, {x[2], x[3]}, {0, 0}, {0, 0}};
    const auto& pool = config().pool();
    const int64_t k = pool.kernel_size(), s = pool.has_stride() ? pool.stride() : k, pad = pool.pad();
    return {{k, k}, {s, s}, {pad, pad}, {pad, pad}};
  }

  // An absorbed concatenation's inputs pooled where they lie, each into its channels of the
  // output, by our loops; false where they cannot read every input as it is (a layout without
  // channel blocks, channels not a multiple of eight, an int8 input at another type or scale
  // than the output's).
  bool pool_parts(const Ports& in, const Ports& out) {
    Shapes shapes;
    std::vector<dnn::memory::desc> xs;
    for (const Port& x : in) {
      shapes.push_back(x.value->shape());
      xs.push_back(dnn::desc_of(*x.value));
    }
    const Shape y_shape = output_shapes(shapes)[0];
    const dnn::Window window = this->window(shapes[0]);
    const std::optional<Quantized> q = int8() ? int8()->out[0] : std::nullopt;
    // The layout the join would have had (whole channel blocks where every part has them, else
    // NHWC), for the layers after it.
    const dnn::memory::desc y_md = dnn::retyped(dnn::concat_desc(xs, y_shape), dnn::data_type(q));
    const auto at_scale = [&](const Port& x) { return dnn::scale_of(*x.value) == (q ? q->scale : 1.f); };
    if (!std::all_of(in.begin(), in.end(), at_scale)) return false;
    if (q && ByteMaxPool::fits(xs, y_md)) {
      ours_int8_.emplace();
      ours_int8_->init(xs, y_md, window);
    } else if (!q && ChannelBlockMaxPool::fits(xs, y_md, window.kernel[0]) &&
               std::all_of(xs.begin(), xs.end(), [](const auto& x) { return x.data_type() == dnn::memory::data_type::f32; })) {
      ours_.emplace();
      ours_->init(xs, y_md, window, !inference_only());
    } else {
      return false;
    }
    out[0].value->reshape(y_shape, dnn::layout_of(y_md, q ? q->scale : 1.f));
    choice_ = Fastest::only(kOurs);
    return true;
  }

  enum : size_t { kOneDnn, kOurs };  // the kernels choice_ chooses between
  Kind kind_;
  std::optional<ChannelBlockMaxPool> ours_;
  std::optional<ByteMaxPool> ours_int8_;  // int8 inference
  Fastest choice_;
  dnn::Arg src_, dst_, diff_dst_, diff_src_;
  dnn::memory workspace_;
  dnnl::primitive forward_;
  dnnl::primitive backward_;
  dnn::Args fwd_args_, bwd_args_;
  // An absorbed concatenation's inputs, or its join where our loops cannot read them
  // (joins_: then joined_ holds it, and its gradient joined_grad_).
  bool joins_ = false;
  Tensor joined_, joined_grad_;
  Ports joined_ports_;
  std::vector<const float*> x_ptrs_;  // what our loops read and write, bound each pass
  std::vector<float*> dx_ptrs_;
};

struct MaxPool : PoolLayer {
  explicit MaxPool(const LayerParameter& p) : PoolLayer(p, Kind::kMax) {}
};
struct AvgPool : PoolLayer {
  explicit AvgPool(const LayerParameter& p) : PoolLayer(p, Kind::kAvg) {}
};
struct GlobalAvgPool : PoolLayer {
  explicit GlobalAvgPool(const LayerParameter& p) : PoolLayer(p, Kind::kGlobalAvg) {}
};

}  // namespace

REGISTER_LAYER("MaxPool", MaxPool);
REGISTER_LAYER("AvgPool", AvgPool);
REGISTER_LAYER("GlobalAvgPool", GlobalAvgPool);

}  // namespace obo
