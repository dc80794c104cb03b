// The base of the element-wise activations: a layer that applies one function (PostOp::Function,
// with its alpha and beta) to its input on oneDNN's eltwise primitive, keeping the input's
// layout. A new activation is its constructor and its registration:
//
//   struct Tanh : EltwiseLayer {
//     explicit Tanh(const LayerParameter& p) : EltwiseLayer(p, PostOp::Function::kTanh) {}
//   };
//   REGISTER_LAYER("Tanh", Tanh);
//
// It says what it computes (as_post_op), so a convolution before it whose primitives can apply
// the function runs it as a post-op, and this layer is dropped from the graph (the convolution
// decides: some functions cannot be differentiated from their output alone).
//   (any shape) -> (same shape)
#pragma once

#include "framework/dnnl_seam.h"
#include "framework/layer.h"

namespace obo {

class EltwiseLayer : public Layer {
 public:
  EltwiseLayer(const LayerParameter& p, PostOp::Function function, float alpha = 0, float beta = 0)
      : Layer(p), f_{function, alpha, beta, p.type()} {
    expect_arity(1, 1, 1);
  }

  std::optional<PostOp> as_post_op() const override { return f_; }
  Shapes output_shapes(const Shapes& in) const override { return {in[0]}; }

  void reshape(const Ports& in, const Ports& out) override {
    const auto md = dnn::desc_of(*in[0].value);
    out[0].value->reshape(in[0].value->shape(), in[0].value->layout());
    const auto fwd = dnn::eltwise_forward(f_, md, false);
    ops_.init(fwd, dnn::eltwise_backward(f_, md, md, false, fwd));
  }

  void forward(const Ports& in, const Ports& out, const Context&) override { ops_.forward(*in[0].value, *out[0].value); }
  bool backward_reads_input(size_t) const override { return ops_.reads_input(); }
  bool backward_reads_output(size_t) const override { return ops_.reads_output(); }
  void backward(const Ports& in, const Ports& out) override {
    ops_.backward(*in[0].value, *out[0].value, *out[0].grad, *in[0].grad);
  }

 private:
  PostOp f_;
  dnn::SameLayoutOps ops_{DNNL_ARG_SRC};  // it differentiates from the input
};

}  // namespace obo
