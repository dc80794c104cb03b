// LRN: local response normalisation across channels, as in AlexNet and the original NIN and
// GoogLeNet (lrn { local_size: 5 alpha: 1e-4 beta: 0.75 k: 1 }, Caffe's defaults):
//   y = x / (k + alpha / local_size * sum of x^2 over the local_size channels around x's)^beta
// oneDNN keeps a workspace of the forward pass for the backward one.
//   (N,C,H,W) -> (same shape, same layout)
#include <cmath>

#include "framework/dnnl_seam.h"
#include "framework/registry.h"

namespace obo {
namespace {

class LRN : public Layer {
 public:
  explicit LRN(const LayerParameter& p) : Layer(p) {
    expect_arity(1, 1, 1);
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

  void reshape(const Ports& in, const Ports& out) override {
    const auto& lrn = config().lrn();
    const dnn::LrnWindow window{lrn.local_size(), lrn.alpha(), lrn.beta(), lrn.k()};
    const auto md = dnn::desc_of(*in[0].value);
    out[0].value->reshape(in[0].value->shape(), in[0].value->layout());
    const auto fwd = dnn::lrn_forward(md, window);
    ops_.init(fwd, dnn::lrn_backward(md, md, window, fwd));
  }

  void forward(const Ports& in, const Ports& out, const Context&) override { ops_.forward(*in[0].value, *out[0].value); }
  void backward(const Ports& in, const Ports& out) override {
    ops_.backward(*in[0].value, *out[0].value, *out[0].grad, *in[0].grad);
  }
  bool backward_reads_input(size_t) const override { return ops_.reads_input(); }
  bool backward_reads_output(size_t) const override { return ops_.reads_output(); }

 private:
  dnn::SameLayoutOps ops_{DNNL_ARG_SRC};  // with oneDNN's workspace of the forward pass
};

}  // namespace

REGISTER_LAYER("LRN", LRN);

}  // namespace obo
