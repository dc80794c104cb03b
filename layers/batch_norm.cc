// BatchNorm (Ioffe & Szegedy, 2015) on oneDNN's batch normalisation: per channel,
//   y = (x - mean) / sqrt(var + epsilon) * scale + shift
// with a learned scale (1 at first) and shift (0). Training normalises by the batch's own
// statistics and moves the running mean and variance (buffers: saved, never trained) towards
// them; evaluation normalises by the running ones, and there BatchNorm is an affine map per
// channel that inference folds into the convolution before it (fold_batch_norm in framework/inference.h).
//   layer { name: "bn1" type: "BatchNorm" input: "conv1" output: "bn1" batch_norm { momentum: 0.9 } }
//   (N,C,H,W) or (N,C) -> (same shape, same layout)
#include <cmath>

#include "framework/dnnl_seam.h"
#include "framework/filler.h"
#include "framework/registry.h"

namespace obo {
namespace {

class BatchNorm : public Layer {
 public:
  explicit BatchNorm(const LayerParameter& p) : Layer(p) {
    expect_arity(1, 1, 1);
    const auto& bn = p.batch_norm();
    if (!(bn.momentum() >= 0 && bn.momentum() < 1)) error("batch_norm.momentum must be in [0, 1), got {}", bn.momentum());
    if (!(bn.epsilon() > 0 && std::isfinite(bn.epsilon())))
      error("batch_norm.epsilon must be positive, got {}", bn.epsilon());
  }

  void setup(const Shapes& in) override {
    if (in[0].size() != 2 && in[0].size() != 4) error("needs an (N,C) or (N,C,H,W) input, got {}", to_string(in[0]));
    const int64_t c = in[0][1];
    add_param("scale", {c}, constant_filler(1));
    add_param("shift", {c}, constant_filler(0));
    add_buffer("running_mean", {c}, 0);
    add_buffer("running_var", {c}, 1);
  }

  Shapes output_shapes(const Shapes& in) const override {
    if ((in[0].size() != 2 && in[0].size() != 4) || in[0][1] != params()[0].shape[0])
      error("expected an (N,{},...) input, got {}", params()[0].shape[0], to_string(in[0]));
    return {in[0]};
  }

  // In evaluation: scale / sqrt(running_var + epsilon) and shift - running_mean * that.
  std::optional<ChannelAffine> channel_affine() const override {
    const int64_t c = params()[0].shape[0];
    const float* scale = params()[0].value.data();
    const float* shift = params()[1].value.data();
    const float* mean = buffers()[0].value.data();
    const float* var = buffers()[1].value.data();
    ChannelAffine a;
    for (int64_t k = 0; k < c; ++k) {
      a.scale.push_back(scale[k] / std::sqrt(var[k] + config().batch_norm().epsilon()));
      a.shift.push_back(shift[k] - mean[k] * a.scale.back());
    }
    return a;
  }

  // Where no convolution or FC before it took it in (framework/inference.h), as itself.
  bool to_onnx(OnnxGraph& onnx, const std::vector<OnnxValue>& in, const std::vector<OnnxValue>& out) const override {
    std::vector<std::string> inputs{in[0].name};
    for (const Param& p : params()) inputs.push_back(onnx.constant(p.name, p.shape, p.value.data()));
    for (const Buffer& b : buffers()) inputs.push_back(onnx.constant(b.name, b.shape, b.value.data()));
    onnx.node("BatchNormalization", inputs, {out[0].name}, {{"epsilon", config().batch_norm().epsilon()}});
    return true;
  }

  // Both modes' primitives are built here: a step switches between them without creating any.
  void reshape(const Ports& in, const Ports& out) override {
    const Tensor& x = *in[0].value;
    const auto md = dnn::desc_of(x);
    const float eps = config().batch_norm().epsilon();
    out[0].value->reshape(x.shape(), x.layout());
    batch_.pd = dnn::batch_norm_forward(md, eps, true);
    running_.pd = dnn::batch_norm_forward(md, eps, false);
    const auto c_md = dnn::plain_desc({x.dim(1)});
    batch_mean_.reshape({x.dim(1)});
    batch_var_.reshape({x.dim(1)});
    x_ = dnn::unbound(md);
    y_ = dnn::unbound(md);
    dy_ = dnn::unbound(md);
    dx_ = dnn::unbound(md);
    scale_ = dnn::unbound(c_md);
    shift_ = dnn::unbound(c_md);
    dscale_ = dnn::unbound(c_md);
    dshift_ = dnn::unbound(c_md);
    for (Mode* m : {&batch_, &running_}) {
      m->mean = dnn::unbound(c_md);
      m->var = dnn::unbound(c_md);
      m->forward = dnn::create(m->pd);
      m->backward = dnn::create(dnn::batch_norm_backward(md, md, eps, m == &batch_, m->pd));
      m->forward_args = {{DNNL_ARG_SRC, x_},       {DNNL_ARG_DST, y_},         {DNNL_ARG_SCALE, scale_},
                         {DNNL_ARG_SHIFT, shift_}, {DNNL_ARG_MEAN, m->mean},   {DNNL_ARG_VARIANCE, m->var}};
      m->backward_args = {{DNNL_ARG_SRC, x_},       {DNNL_ARG_DIFF_DST, dy_}, {DNNL_ARG_SCALE, scale_}, {DNNL_ARG_SHIFT, shift_},
                          {DNNL_ARG_MEAN, m->mean},     {DNNL_ARG_VARIANCE, m->var},    {DNNL_ARG_DIFF_SRC, dx_},
                          {DNNL_ARG_DIFF_SCALE, dscale_}, {DNNL_ARG_DIFF_SHIFT, dshift_}};
    }
    batch_.mean.set_data_handle(batch_mean_.data());
    batch_.var.set_data_handle(batch_var_.data());
    // The input's gradient is computed whether or not one is wanted: into scratch, if not.
    if (!in[0].grad) scratch_.reshape(x.shape(), x.layout());
    per_channel_ = x.count() / x.dim(1);
  }

  void forward(const Ports& in, const Ports& out, const Context& ctx) override {
    mode_ = ctx.train ? &batch_ : &running_;
    x_.set_data_handle(in[0].value->data());
    y_.set_data_handle(out[0].value->data());
    scale_.set_data_handle(params()[0].value.data());
    shift_.set_data_handle(params()[1].value.data());
    running_.mean.set_data_handle(buffers()[0].value.data());
    running_.var.set_data_handle(buffers()[1].value.data());
    dnn::execute(mode_->forward, mode_->forward_args);
    if (!ctx.train) return;
    dnn::stream().wait();
    // The running variance is unbiased, as PyTorch keeps it: the batch's times n / (n - 1).
    const float m = config().batch_norm().momentum();
    const float unbias = per_channel_ > 1 ? static_cast<float>(per_channel_) / (per_channel_ - 1) : 1.f;
    float* mean = buffers()[0].value.data();
    float* var = buffers()[1].value.data();
    for (int64_t c = 0; c < batch_mean_.count(); ++c) {
      mean[c] = m * mean[c] + (1 - m) * batch_mean_.data()[c];
      var[c] = m * var[c] + (1 - m) * unbias * batch_var_.data()[c];
    }
  }

  // The gradient of what forward computed: through the batch's statistics in training, through a
  // fixed affine map in evaluation.
  bool backward_reads_output(size_t) const override { return false; }
  void backward(const Ports& in, const Ports& out) override {
    x_.set_data_handle(in[0].value->data());
    dy_.set_data_handle(out[0].grad->data());
    dx_.set_data_handle(in[0].grad ? in[0].grad->data() : scratch_.data());
    scale_.set_data_handle(params()[0].value.data());
    dscale_.set_data_handle(params()[0].grad.data());
    dshift_.set_data_handle(params()[1].grad.data());
    dnn::execute(mode_->backward, mode_->backward_args);
  }

 private:
  struct Mode {
    dnnl::batch_normalization_forward::primitive_desc pd;
    dnn::memory mean, var;
    dnnl::primitive forward, backward;
    dnn::Args forward_args, backward_args;
  };
  Mode batch_, running_;  // training: the batch's statistics; evaluation: the running ones
  Mode* mode_ = &batch_;  // of the last forward pass
  Tensor batch_mean_, batch_var_, scratch_;
  int64_t per_channel_ = 0;  // values per channel in a batch: N*H*W
  dnn::memory x_, y_, dy_, dx_, scale_, shift_, dscale_, dshift_;
};

}  // namespace

REGISTER_LAYER("BatchNorm", BatchNorm);

}  // namespace obo
