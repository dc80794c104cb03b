// Flatten: (N,C,H,W) in any layout -> (N, C*H*W) plain, in C,H,W order as PyTorch's flatten.
#include "framework/dnnl_seam.h"
#include "framework/registry.h"

namespace obo {
namespace {

class FlattenLayer : public Layer {
 public:
  explicit FlattenLayer(const LayerParameter& p) : Layer(p) { expect_arity(1, 1, 1); }

  Shapes output_shapes(const Shapes& in) const override {
    if (in[0].size() < 2) error("needs an input of rank >= 2, got {}", to_string(in[0]));
    return {{in[0][0], count(in[0]) / in[0][0]}};
  }

  bool to_onnx(OnnxGraph& onnx, const std::vector<OnnxValue>& in, const std::vector<OnnxValue>& out) const override {
    onnx.node("Flatten", {in[0].name}, {out[0].name}, {{"axis", int64_t{1}}});
    return true;
  }

  void reshape(const Ports& in, const Ports& out) override {
    const Tensor& x = *in[0].value;
    // In int8 inference the output is stored as its plan says, the input converted to it.
    const std::optional<Quantized> q = int8() ? int8()->out[0] : std::nullopt;
    const float y_scale = q ? q->scale : 1.f;
    const Shape y_shape = output_shapes({x.shape()})[0];
    out[0].value->reshape(y_shape, dnn::layout_of(dnn::retyped(dnn::plain_desc(y_shape), dnn::data_type(q)), y_scale));
    // The output buffer seen with the input's dimensions: a plain reorder target.
    const auto x_md = dnn::desc_of(x), flat_md = dnn::retyped(dnn::plain_desc(x.shape()), dnn::data_type(q));
    x_ = dnn::unbound(x_md);
    flat_ = dnn::unbound(flat_md);
    forward_ = dnn::create_reorder(x_, flat_, dnn::scale_of(x) / y_scale);
    backward_ = dnn::create_reorder(flat_, x_);
    forward_args_ = dnn::reorder_args(x_, flat_);
    backward_args_ = dnn::reorder_args(flat_, x_);
  }

  void forward(const Ports& in, const Ports& out, const Context&) override {
    x_.set_data_handle(in[0].value->data());
    flat_.set_data_handle(out[0].value->data());
    dnn::execute(forward_, forward_args_);
  }

  bool runs_int8() const override { return true; }
  bool keeps_scale() const override { return true; }

  bool backward_reads_input(size_t) const override { return false; }
  bool backward_reads_output(size_t) const override { return false; }
  void backward(const Ports& in, const Ports& out) override {
    x_.set_data_handle(in[0].grad->data());
    flat_.set_data_handle(out[0].grad->data());
    dnn::execute(backward_, backward_args_);
  }

 private:
  dnn::memory x_, flat_;
  dnnl::reorder forward_, backward_;
  dnn::Args forward_args_, backward_args_;
};

}  // namespace

REGISTER_LAYER("Flatten", FlattenLayer);

}  // namespace obo
