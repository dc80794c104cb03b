// PReLU (He et al., 2015): x > 0 ? x : slope[c] * x, with one slope per channel, learned
// (prelu { slope_filler { ... } }; by default all 0.25). Its parameter is plain (C).
//   (N,C,...) -> (same shape, same layout)
#include "framework/dnnl_seam.h"
#include "framework/filler.h"
#include "framework/registry.h"

namespace obo {
namespace {

class PReLU : public Layer {
 public:
  explicit PReLU(const LayerParameter& p) : Layer(p) { expect_arity(1, 1, 1); }

  void setup(const Shapes& in) override {
    if (in[0].size() < 2) error("needs an (N,C,...) input, got {}", to_string(in[0]));
    const auto& prelu = config().prelu();
    add_param("slope", {in[0][1]}, prelu.has_slope_filler() ? prelu.slope_filler() : constant_filler(0.25f));
  }

  Shapes output_shapes(const Shapes& in) const override {
    if (in[0].size() < 2 || in[0][1] != params()[0].shape[0])
      error("expected an input of {} channels, got {}", params()[0].shape[0], to_string(in[0]));
    return {in[0]};
  }

  // The slope as ONNX broadcasts it from the right: (C, 1, ..., 1) against (N, C, ...).
  bool to_onnx(OnnxGraph& onnx, const std::vector<OnnxValue>& in, const std::vector<OnnxValue>& out) const override {
    Shape slope(in[0].shape.size() - 1, 1);
    slope[0] = params()[0].shape[0];
    onnx.node("PRelu", {in[0].name, onnx.constant(params()[0].name, slope, params()[0].value.data())}, {out[0].name});
    return true;
  }

  void reshape(const Ports& in, const Ports& out) override {
    const Tensor& x = *in[0].value;
    // The slope as oneDNN broadcasts it: (1,C,1,...,1), over the parameter's plain (C) buffer.
    Shape slope_shape(x.rank(), 1);
    slope_shape[1] = x.dim(1);
    const auto x_md = dnn::desc_of(x), slope_md = dnn::plain_desc(slope_shape);
    const auto fwd = dnn::prelu_forward(x_md, dnn::any_desc(slope_shape));
    const auto bwd = dnn::prelu_backward(x_md, dnn::any_desc(slope_shape), x_md, dnn::any_desc(slope_shape), fwd);
    out[0].value->reshape(x.shape(), x.layout());
    // oneDNN computes the input's gradient whether or not one is wanted: into scratch, if not.
    if (!in[0].grad) scratch_.reshape(x.shape(), x.layout());
    x_ = dnn::unbound(x_md);
    y_ = dnn::unbound(x_md);
    dy_ = dnn::unbound(x_md);
    dx_ = dnn::unbound(x_md);
    slope_.init(slope_md, fwd.weights_desc());
    bwd_slope_.init(slope_md, bwd.weights_desc());
    diff_slope_.init(slope_md, bwd.diff_weights_desc());
    forward_ = dnn::create(fwd);
    backward_ = dnn::create(bwd);
    forward_args_ = {{DNNL_ARG_SRC, x_}, {DNNL_ARG_WEIGHTS, slope_.mem()}, {DNNL_ARG_DST, y_}};
    backward_args_ = {{DNNL_ARG_SRC, x_},
                      {DNNL_ARG_WEIGHTS, bwd_slope_.mem()},
                      {DNNL_ARG_DIFF_DST, dy_},
                      {DNNL_ARG_DIFF_SRC, dx_},
                      {DNNL_ARG_DIFF_WEIGHTS, diff_slope_.mem()}};
  }

  void forward(const Ports& in, const Ports& out, const Context&) override {
    x_.set_data_handle(in[0].value->data());
    y_.set_data_handle(out[0].value->data());
    slope_.read(params()[0].value);
    dnn::execute(forward_, forward_args_);
  }

  bool backward_reads_output(size_t) const override { return false; }
  void backward(const Ports& in, const Ports& out) override {
    x_.set_data_handle(in[0].value->data());
    dy_.set_data_handle(out[0].grad->data());
    dx_.set_data_handle(in[0].grad ? in[0].grad->data() : scratch_.data());
    bwd_slope_.read(params()[0].value);
    diff_slope_.bind(params()[0].grad);
    dnn::execute(backward_, backward_args_);
    diff_slope_.write(params()[0].grad);
  }

 private:
  dnn::memory x_, y_, dy_, dx_;  // the input's layout
  dnn::Arg slope_, bwd_slope_, diff_slope_;
  Tensor scratch_;
  dnnl::primitive forward_, backward_;
  dnn::Args forward_args_, backward_args_;
};

}  // namespace

REGISTER_LAYER("PReLU", PReLU);

}  // namespace obo
