// LRN: local response normalisation across channels, as in AlexNet and the original NIN and
// GoogLeNet (lrn { local_size: 5 alpha: 1e-4 beta: 0.75 k: 1 }, Caffe's defaults):
//   y = x / (k + alpha / local_size * sum of x^2 over the local_size channels around x's)^beta
// oneDNN keeps a workspace of the forward pass for the backward one.
//   (N,C,H,W) -> (same shape, same layout)
#include <cmath>

#include "framework/registry.h"
#include "layers/same_layout.h"

namespace obo {
namespace {

// Backward from the input, with oneDNN's workspace of the forward pass.
class LRN : public SameLayoutLayer {
 public:
  explicit LRN(const LayerParameter& p) : SameLayoutLayer(p, DNNL_ARG_SRC) {
    const auto& lrn = p.lrn();
    if (lrn.local_size() <= 0 || lrn.local_size() % 2 == 0)
      error("lrn.local_size must be odd and positive, got {}", lrn.local_size());
    if (!(std::isfinite(lrn.alpha()) && std::isfinite(lrn.beta()) && lrn.k() > 0 && std::isfinite(lrn.k())))
      error("lrn needs finite alpha and beta and a positive k, got {}, {} and {}", lrn.alpha(), lrn.beta(), lrn.k());
  }

  Shapes output_shapes(const Shapes& in) const override {
    if (in[0].size() != 4) error("needs an (N,C,H,W) input, got {}", to_string(in[0]));
    return {in[0]};
  }

  // ONNX's LRN is this formula, alpha divided by the size included.
  bool to_onnx(OnnxGraph& onnx, const std::vector<OnnxValue>& in, const std::vector<OnnxValue>& out) const override {
    const auto& lrn = config().lrn();
    onnx.node("LRN", {in[0].name}, {out[0].name},
              {{"size", int64_t{lrn.local_size()}}, {"alpha", lrn.alpha()}, {"beta", lrn.beta()}, {"bias", lrn.k()}});
    return true;
  }

  void reshape(const Ports& in, const Ports& out) override {
    const auto& lrn = config().lrn();
    const dnn::LrnWindow window{lrn.local_size(), lrn.alpha(), lrn.beta(), lrn.k()};
    const auto md = shape_like_input(in, out);
    const auto fwd = dnn::lrn_forward(md, window);
    ops_.init(fwd, dnn::lrn_backward(md, md, window, fwd));
  }

};

}  // namespace

REGISTER_LAYER("LRN", LRN);

}  // namespace obo
