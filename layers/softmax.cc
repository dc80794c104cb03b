// Softmax: class probabilities, exp(x_k) / sum_j exp(x_j) over the channels (axis 1) of each
// example and pixel, for deployed nets (training uses SoftmaxCrossEntropy, which is stabler).
//   (N,K) or (N,K,H,W) -> (same shape, same layout)
#include "framework/dnnl_seam.h"
#include "framework/registry.h"

namespace obo {
namespace {

class Softmax : public Layer {
 public:
  explicit Softmax(const LayerParameter& p) : Layer(p) { expect_arity(1, 1, 1); }

  Shapes output_shapes(const Shapes& in) const override {
    if (in[0].size() < 2) error("needs an (N,K,...) input, got {}", to_string(in[0]));
    return {in[0]};
  }

  void reshape(const Ports& in, const Ports& out) override {
    const auto md = dnn::desc_of(*in[0].value);
    out[0].value->reshape(in[0].value->shape(), in[0].value->layout());
    const auto fwd = dnn::softmax_forward(md, 1);
    ops_.init(fwd, dnn::softmax_backward(md, md, 1, fwd));
  }

  void forward(const Ports& in, const Ports& out, const Context&) override { ops_.forward(*in[0].value, *out[0].value); }
  void backward(const Ports& in, const Ports& out) override {
    ops_.backward(*in[0].value, *out[0].value, *out[0].grad, *in[0].grad);
  }
  bool backward_reads_input(size_t) const override { return ops_.reads_input(); }
  bool backward_reads_output(size_t) const override { return ops_.reads_output(); }

 private:
  dnn::SameLayoutOps ops_{DNNL_ARG_DST};  // from the output alone: dx = y * (dy - sum(dy * y))
};

}  // namespace

REGISTER_LAYER("Softmax", Softmax);

}  // namespace obo
