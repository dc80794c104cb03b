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
    x_ = dnn::unbound(md);
    y_ = dnn::unbound(md);
    dy_ = dnn::unbound(md);
    dx_ = dnn::unbound(md);
    forward_ = dnn::create(fwd);
    backward_ = dnn::create(dnn::softmax_backward(md, md, 1, fwd));
    forward_args_ = {{DNNL_ARG_SRC, x_}, {DNNL_ARG_DST, y_}};
    backward_args_ = {{DNNL_ARG_DST, y_}, {DNNL_ARG_DIFF_DST, dy_}, {DNNL_ARG_DIFF_SRC, dx_}};
  }

  void forward(const Ports& in, const Ports& out, const Context&) override {
    x_.set_data_handle(in[0].value->data());
    y_.set_data_handle(out[0].value->data());
    dnn::execute(forward_, forward_args_);
  }

  // From the output alone: dx = y * (dy - sum(dy * y)).
  void backward(const Ports& in, const Ports& out) override {
    y_.set_data_handle(out[0].value->data());
    dy_.set_data_handle(out[0].grad->data());
    dx_.set_data_handle(in[0].grad->data());
    dnn::execute(backward_, backward_args_);
  }

 private:
  dnn::memory x_, y_, dy_, dx_;  // the input's layout
  dnnl::primitive forward_, backward_;
  dnn::Args forward_args_, backward_args_;
};

}  // namespace

REGISTER_LAYER("Softmax", Softmax);

}  // namespace obo
