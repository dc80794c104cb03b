// Convolution, KxK with stride and zero padding, optional bias, on oneDNN (direct, or Winograd
// for 3x3 layers wide enough to gain from it).
// Three types share it: Conv (kernel_size required), Conv1x1 (mixes channels at each pixel: the
// seed's 50x600x600 -> 20x600x600 reduction) and Conv3x3 (pad 1 by default, keeping H and W).
//
//   layer { name: "cccp1" type: "Conv1x1" input: "conv1" output: "cccp1" conv { num_output: 64 } }
//   (N,C,H,W) -> (N,num_output,(H+2p-k)/s+1,(W+2p-k)/s+1)
// A 1x1 convolution that reads a concatenation takes it in where every reader of it can
// (fuse_concatenations): it convolves each part where it lies, adding into the output, and the
// join is never copied.
// A following element-wise layer (ReLU, ...) can be fused (the graph decides): it runs as a
// post-op of the forward primitive, and backward first masks the incoming gradient, in place,
// by the function's derivative computed from the output. A fused ReLU (or LeakyReLU) keeps its
// derivative as bits instead, so that the output lives only as long as other layers read it
// (until a max-pool after it has run forward, say).
#include "framework/dnnl_seam.h"
#include "framework/filler.h"
#include "framework/registry.h"
#include "layers/relu_mask.h"
#include "layers/weighted.h"
#include "layers/winograd.h"

namespace obo {
namespace {

class ConvLayer : public Layer {
 public:
  // fixed_kernel 0: the kernel comes from conv.kernel_size.
  ConvLayer(const LayerParameter& p, int fixed_kernel, int default_pad) : Layer(p) {
    expect_arity(1, 1, 1);
    const auto& c = p.conv();
    if (!c.has_num_output() || c.num_output() <= 0)
      error("conv.num_output must be positive, got {}", c.num_output());
    if (fixed_kernel && c.has_kernel_size() && c.kernel_size() != fixed_kernel)
      error("kernel_size is fixed at {} for this type, got {}", fixed_kernel, c.kernel_size());
    kernel_ = fixed_kernel ? fixed_kernel : c.kernel_size();
    if (kernel_ <= 0) error("conv.kernel_size must be positive, got {}", c.kernel_size());
    pad_ = c.has_pad() ? c.pad() : default_pad;
    if (fixed_kernel == 1 && pad_ != 0) error("a 1x1 convolution takes no padding, got pad {}", pad_);
    if (pad_ < 0 || c.stride() <= 0) error("needs pad >= 0 and stride > 0, got {} and {}", pad_, c.stride());
  }

  // Any function whose derivative its output gives: backward masks the gradient from the output.
  bool accepts_post_op(const PostOp& f) const override { return dnn::derivative_from_output(f); }
  bool pointwise() const override { return kernel_ == 1; }
  bool runs_int8() const override { return true; }
  bool computes_int8() const override { return int8().has_value(); }  // s32 sums of int8, whatever it writes
  std::string kernel() const override {
    if (computes_int8()) return joins_ ? "int8, joined first" : "int8";
    if (!parts_.empty()) return "direct, a part at a time";
    return winograd_ ? "winograd on matmul" : oneDNN_winograd_ ? "winograd" : "direct";
  }
  // A 1x1 convolution of a concatenation is the sum of the 1x1 convolutions of its parts, each
  // by its block of the weights' columns. It runs so: one oneDNN convolution a part, each after
  // the first adding into the output (a sum post-op), the bias in the first, the fused post-op in
  // the last; backward gives each part its gradient and its block of the weights' gradient.
  // Inception's block (parts of 16, 24, 8 and 8 channels) read by a 1x1 convolution of 64
  // outputs, then a max-pool: on AVX-512 those three layers took 2.43 ms an inference pass at
  // batch 256 against 5.21 with the join (0.074 against 0.119 at batch 8) and 5.36 ms a training
  // step at batch 128, forward and backward, against 7.67; held to AVX2, where 8-channel blocks
  // make the join a block copy, 4.16 against 4.70 (0.118 against 0.127) and 5.51 against 6.02.
  // int8 joins the parts first: a u8 output cannot hold the partial sums. Wider kernels keep the
  // Concat layer (oneDNN 2.6 runs a 3x3 part of 8 channels in 16-channel blocks on its reference
  // kernel).
  bool reads_concatenation() const override { return kernel_ == 1; }
  bool backward_reads_output(size_t) const override { return post_op() && !relu_bits(); }
  // At most 27 multiply-adds an output (a 3x3 first layer over grey or RGB images) runs at the
  // speed of writing the output: NIN's conv1, recomputed, costs 2 ms of a 170 ms step at batch
  // 128 and frees its 25.7 MB output between the passes.
  bool cheap_to_recompute() const override { return channels_ * kernel_ * kernel_ <= 27; }
  std::optional<LayerParameter> with_bias() const override {
    LayerParameter p = config();
    p.mutable_conv()->set_bias_term(true);
    return p;
  }

  bool to_onnx(OnnxGraph& onnx, const std::vector<OnnxValue>& in, const std::vector<OnnxValue>& out) const override {
    std::vector<OnnxValue> x = in;
    if (!concatenation_to_onnx(onnx, x)) return false;
    std::vector<std::string> inputs{x[0].name};
    for (const Param& p : params()) inputs.push_back(onnx.constant(p.name, p.shape, p.value.data()));
    const int64_t s = config().conv().stride();
    onnx.node("Conv", inputs, {out[0].name},
              {{"kernel_shape", std::vector<int64_t>{kernel_, kernel_}},
               {"strides", std::vector<int64_t>{s, s}},
               {"pads", std::vector<int64_t>{pad_, pad_, pad_, pad_}}});
    return true;
  }

  void setup(const Shapes& in) override {
    const Shape x = input_shape(in);
    if (x.size() != 4) error("needs an (N,C,H,W) input, got {}", to_string(x));
    channels_ = x[1];
    const auto& c = config().conv();
    add_param("weight", {c.num_output(), channels_, kernel_, kernel_},
              c.has_weight_filler() ? c.weight_filler() : onebyone::FillerParameter());
    if (c.bias_term())
      add_param("bias", {c.num_output()}, c.has_bias_filler() ? c.bias_filler() : constant_filler(0));
  }

  Shapes output_shapes(const Shapes& in) const override {
    const Shape x = input_shape(in);
    if (x.size() != 4 || x[1] != channels_) error("expected input (N,{},H,W), got {}", channels_, to_string(x));
    if (x[2] + 2 * pad_ < kernel_ || x[3] + 2 * pad_ < kernel_)
      error("a {}x{} kernel with pad {} does not fit input {}", kernel_, kernel_, pad_, to_string(x));
    const int64_t stride = config().conv().stride();
    return {{x[0], config().conv().num_output(), (x[2] + 2 * pad_ - kernel_) / stride + 1,
             (x[3] + 2 * pad_ - kernel_) / stride + 1}};
  }

  void reshape(const Ports& in, const Ports& out) override {
    Shapes shapes;
    for (const Port& p : in) shapes.push_back(p.value->shape());
    const Shape y_shape = output_shapes(shapes)[0];
    const int64_t stride = config().conv().stride();
    window_ = {{kernel_, kernel_}, {stride, stride}, {pad_, pad_}, {pad_, pad_}};
    const Shape& w_shape = params()[0].shape;
    const bool bias = params().size() > 1;
    const dnn::memory::desc bias_md = bias ? dnn::plain_desc(params()[1].shape) : dnn::memory::desc();

    winograd_.reset();
    parts_.clear();
    joins_ = concatenation() && int8();
    if (int8()) {
      Int8Plan plan = *int8();
      if (joins_) {  // into a tensor of this layer's own, at the scale plan_int8 gave the join
        joined_ports_ = {{&joined_, nullptr}};
        concatenation()->reshape(in, joined_ports_);
        plan.in = {*concatenation()->int8()->out[0]};
      }
      const auto make = [this](const auto& src, const auto& weights, const auto& b, const auto& dst, const auto& attr) {
        return dnn::conv_forward(dnn::ConvAlgorithm::kDirect, src, weights, b, dst, window_, false, attr);
      };
      const Tensor& x = joins_ ? joined_ : *in[0].value;
      out[0].value->reshape(y_shape, int8_ops_.init(make, plan, x, w_shape, y_shape, bias, post_op()));
      return;
    }
    if (concatenation()) return convolve_parts(in, *out[0].value, y_shape, bias_md);
    const Tensor& x = *in[0].value;
    const dnnl::primitive_attr attr = dnn::post_op_attr(post_op());
    const int64_t outputs = config().conv().num_output();
    const dnn::ConvAlgorithm alg = algorithm(x.dim(0));
    auto fwd = dnn::conv_forward(alg, dnn::any_desc(x.shape()), dnn::any_desc(w_shape), bias_md,
                                 dnn::any_desc(y_shape), window_, !inference_only(), attr);
    oneDNN_winograd_ = dnn::runs_winograd(fwd);
    if (inference_only() && alg == dnn::ConvAlgorithm::kWinograd && pad_ == 1 && !oneDNN_winograd_ &&
        WinogradConv::fits(x.shape(), outputs)) {
      // No Winograd kernel in oneDNN for this machine: ours, on its matmul.
      winograd_.emplace();
      winograd_->init(dnn::desc_of(x), outputs, post_op());
      out[0].value->reshape(y_shape, winograd_->output_layout());
      return;
    }
    out[0].value->reshape(y_shape, dnn::layout_of(fwd.dst_desc()));
    const auto y_md = fwd.dst_desc();
    ops_.init_forward(dnn::desc_of(x), y_md, dnn::plain_desc(w_shape), bias_md, fwd);
    if (inference_only()) return;
    init_post_op_backward(y_md, out[0].value->size());
    const auto bwd_data = dnn::conv_backward_data(alg, dnn::any_desc(x.shape()), dnn::any_desc(w_shape),
                                                  dnn::any_desc(y_shape), window_, fwd);
    const auto bwd_weights = dnn::conv_backward_weights(alg, dnn::any_desc(x.shape()), dnn::any_desc(w_shape),
                                                        bias_md, dnn::any_desc(y_shape), window_, fwd);
    ops_.init_backward(dnn::desc_of(x), y_md, dnn::plain_desc(w_shape), bias_md, bwd_data, bwd_weights);
  }

  void forward(const Ports& in, const Ports& out, const Context& ctx) override {
    if (int8()) {
      if (!int8_ops_.frozen()) error("runs int8 only with frozen weights (Graph::freeze)");
      if (joins_) concatenation()->forward(in, joined_ports_, ctx);
      return int8_ops_.forward(joins_ ? joined_ : *in[0].value, *out[0].value);
    }
    if (!parts_.empty())
      for (size_t i = 0; i < parts_.size(); ++i) parts_[i].forward(*in[i].value, params(), *out[0].value);
    else if (winograd_)
      winograd_->forward(*in[0].value, params()[0].value, params().size() > 1 ? &params()[1].value : nullptr, *out[0].value);
    else
      ops_.forward(*in[0].value, params(), *out[0].value);
    if (relu_bits()) relu_mask_.record(out[0].value->data());
  }

  void freeze() override {
    if (int8())
      int8_ops_.freeze(params());
    else if (winograd_)
      winograd_->freeze(params()[0].value);
    else if (!parts_.empty())
      for (WeightedOps& part : parts_) part.freeze(params());
    else
      ops_.freeze(params());
  }

  void backward(const Ports& in, const Ports& out) override {
    if (relu_bits()) {
      relu_mask_.apply(out[0].grad->data());
    } else if (post_op()) {
      post_op_dst_.set_data_handle(out[0].value->data());
      post_op_grad_.set_data_handle(out[0].grad->data());
      dnn::execute(post_op_backward_, post_op_args_);
    }
    if (parts_.empty()) return ops_.backward(*in[0].value, *out[0].grad, in[0].grad, params());
    for (size_t i = 0; i < parts_.size(); ++i) parts_[i].backward(*in[i].value, *out[0].grad, in[i].grad, params());
  }

  int64_t multiply_adds(const Ports&, const Ports& out) const override {
    return out[0].value->count() * channels_ * kernel_ * kernel_;
  }

 private:
  // An absorbed concatenation's parts, each by its columns of the (plain) weights into y, whose
  // layout the first part's primitive chooses and the others add into.
  void convolve_parts(const Ports& in, Tensor& y, const Shape& y_shape, const dnn::memory::desc& bias_md) {
    const Shape& w_shape = params()[0].shape;
    const dnn::memory::desc w_md = dnn::plain_desc(w_shape);
    dnn::memory::desc y_md;
    parts_.resize(in.size());
    int64_t column = 0;
    for (size_t i = 0; i < in.size(); ++i) {
      const Tensor& x = *in[i].value;
      const Shape part_w{w_shape[0], x.dim(1), 1, 1};
      const bool first = i == 0, last = i + 1 == in.size();
      const dnn::memory::desc b_md = first ? bias_md : dnn::memory::desc();
      const auto direct = dnn::ConvAlgorithm::kDirect;
      const auto fwd = dnn::conv_forward(direct, dnn::any_desc(x.shape()), dnn::any_desc(part_w), b_md,
                                         first ? dnn::any_desc(y_shape) : y_md, window_, !inference_only(),
                                         dnn::post_op_attr(last ? post_op() : std::nullopt, !first));
      if (first) y_md = fwd.dst_desc();
      const dnn::memory::desc columns = w_md.submemory_desc(dnn::dims(part_w), {0, column, 0, 0});
      parts_[i].init_forward(dnn::desc_of(x), y_md, columns, b_md, fwd);
      column += x.dim(1);
      if (inference_only()) continue;
      const auto bwd_data = dnn::conv_backward_data(direct, dnn::any_desc(x.shape()), dnn::any_desc(part_w), y_md, window_, fwd);
      const auto bwd_weights =
          dnn::conv_backward_weights(direct, dnn::any_desc(x.shape()), dnn::any_desc(part_w), b_md, y_md, window_, fwd);
      parts_[i].init_backward(dnn::desc_of(x), y_md, columns, b_md, bwd_data, bwd_weights);
    }
    y.reshape(y_shape, dnn::layout_of(y_md));
    if (!inference_only()) init_post_op_backward(y_md, y.size());
  }

  // Winograd halves the time of NIN's 64- and 128-channel 3x3 layers in training; with few
  // channels (the first layer's one) it is several times slower than direct. Inference runs a
  // faster direct kernel, which Winograd beats only from 64 channels in and out and a batch of
  // 32. On AVX-512 (oneDNN's Winograd), whole-net NIN inference gained 30% at batch 32 and 8
  // to 27% at batch 256 but lost 10% at batch 4 and 40% at batch 1; Inception's 16 -> 24 and
  // ResNet-mini's 16 and 32 channels lost 10 to 25%. Held to AVX2 (ours, on oneDNN's matmul),
  // NIN gained 5 to 15% at batch 128 and 256, nothing measurable at 32, and lost 8% at 16.
  dnn::ConvAlgorithm algorithm(int64_t batch) const {
    const int64_t outputs = config().conv().num_output();
    const bool wide = inference_only() ? channels_ >= 64 && outputs >= 64 && batch >= 32 : channels_ >= 16 && outputs >= 16;
    return kernel_ == 3 && config().conv().stride() == 1 && wide ? dnn::ConvAlgorithm::kWinograd
                                                                 : dnn::ConvAlgorithm::kDirect;
  }

  // A fused post-op's backward: a ReLU's from bits, any other in place on the output's gradient,
  // which becomes the gradient before the function. Nothing else reads it: the graph has summed
  // every consumer's part into it before this layer runs.
  void init_post_op_backward(const dnn::memory::desc& y_md, size_t y_size) {
    if (relu_bits()) {
      relu_mask_.init(y_size, post_op()->alpha);
    } else if (post_op()) {
      const PostOp& f = *post_op();
      post_op_backward_ = dnn::create(dnn::eltwise_backward(f, y_md, y_md, true, dnn::eltwise_forward(f, y_md, true)));
      post_op_dst_ = dnn::unbound(y_md);
      post_op_grad_ = dnn::unbound(y_md);
      post_op_args_ = {{DNNL_ARG_DST, post_op_dst_}, {DNNL_ARG_DIFF_DST, post_op_grad_}, {DNNL_ARG_DIFF_SRC, post_op_grad_}};
    }
  }

  int64_t kernel_ = 0, pad_ = 0, channels_ = 0;
  dnn::Window window_;
  WeightedOps ops_;
  Int8Forward int8_ops_;  // int8 inference
  std::optional<WinogradConv> winograd_;  // an inference convolution's Winograd where oneDNN has none
  std::vector<WeightedOps> parts_;        // one per part of an absorbed concatenation (float)
  bool joins_ = false;                    // int8 of an absorbed concatenation: its join, made here
  Tensor joined_;
  Ports joined_ports_;
  bool oneDNN_winograd_ = false;          // whether oneDNN's primitive runs Winograd
  // A fused post-op's backward, masking the output's gradient in place: from bits, or from the
  // output on oneDNN's eltwise primitive.
  bool relu_bits() const {
    return !inference_only() && post_op() && post_op()->function == PostOp::Function::kRelu;
  }
  ReluMask relu_mask_;
  dnnl::primitive post_op_backward_;
  dnn::memory post_op_dst_, post_op_grad_;
  dnn::Args post_op_args_;
};

struct Conv : ConvLayer {
  explicit Conv(const LayerParameter& p) : ConvLayer(p, 0, 0) {}
};
struct Conv1x1 : ConvLayer {
  explicit Conv1x1(const LayerParameter& p) : ConvLayer(p, 1, 0) {}
};
struct Conv3x3 : ConvLayer {
  explicit Conv3x3(const LayerParameter& p) : ConvLayer(p, 3, 1) {}
};

}  // namespace

REGISTER_LAYER("Conv", Conv);
REGISTER_LAYER("Conv1x1", Conv1x1);
REGISTER_LAYER("Conv3x3", Conv3x3);

}  // namespace obo
