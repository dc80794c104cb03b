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
    t_.init(md);
    forward_ = dnn::create(fwd);
    backward_ = dnn::create(dnn::softmax_backward(md, md, 1, fwd));
    forward_args_ = {{DNNL_ARG_SRC, t_.x}, {DNNL_ARG_DST, t_.y}};
    // From the output alone: dx = y * (dy - sum(dy * y)).
    backward_args_ = {{DNNL_ARG_DST, t_.y}, {DNNL_ARG_DIFF_DST, t_.dy}, {DNNL_ARG_DIFF_SRC, t_.dx}};
  }

  void forward(const Ports& in, const Ports& out, const Context&) override {
    t_.bind_forward(in, out);
    dnn::execute(forward_, forward_args_);
  }

  void backward(const Ports& in, const Ports& out) override {
    t_.bind_backward(in, out);
    dnn::execute(backward_, backward_args_);
  }

 private:
  dnn::SameLayout t_;
  dnnl::primitive forward_, backward_;
  dnn::Args forward_args_, backward_args_;
};

}  // namespace

REGISTER_LAYER("Softmax", Softmax);

}  // namespace obo
