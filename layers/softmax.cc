// Softmax: class probabilities, exp(x_k) / sum_j exp(x_j) over the channels (axis 1) of each
// example and pixel, for deployed nets (training uses SoftmaxCrossEntropy, which is stabler).
//   (N,K) or (N,K,H,W) -> (same shape, same layout)
#include "framework/registry.h"
#include "layers/same_layout.h"

namespace obo {
namespace {

// Backward from the output alone: dx = y * (dy - sum(dy * y)).
class Softmax : public SameLayoutLayer {
 public:
  explicit Softmax(const LayerParameter& p) : SameLayoutLayer(p, DNNL_ARG_DST) {}

  Shapes output_shapes(const Shapes& in) const override {
    if (in[0].size() < 2) error("needs an (N,K,...) input, got {}", to_string(in[0]));
    return {in[0]};
  }

  bool to_onnx(OnnxGraph& onnx, const std::vector<OnnxValue>& in, const std::vector<OnnxValue>& out) const override {
    onnx.node("Softmax", {in[0].name}, {out[0].name}, {{"axis", int64_t{1}}});  // opset 13: over axis 1 alone
    return true;
  }

  void reshape(const Ports& in, const Ports& out) override {
    const auto md = shape_like_input(in, out);
    const auto fwd = dnn::softmax_forward(md, 1);
    ops_.init(fwd, dnn::softmax_backward(md, md, 1, fwd));
  }

};

}  // namespace

REGISTER_LAYER("Softmax", Softmax);

}  // namespace obo
