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
    t_.init(md);
    forward_ = dnn::create(fwd);
    backward_ = dnn::create(dnn::eltwise_backward(f_, md, md, false, fwd));
    forward_args_ = {{DNNL_ARG_SRC, t_.x}, {DNNL_ARG_DST, t_.y}};
    backward_args_ = {{DNNL_ARG_SRC, t_.x}, {DNNL_ARG_DIFF_DST, t_.dy}, {DNNL_ARG_DIFF_SRC, t_.dx}};
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
  PostOp f_;
  dnn::SameLayout t_;
  dnnl::primitive forward_, backward_;
  dnn::Args forward_args_, backward_args_;
};

}  // namespace obo
