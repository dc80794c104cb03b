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

#include "layers/same_layout.h"

namespace obo {

// Its backward differentiates from the input.
class EltwiseLayer : public SameLayoutLayer {
 public:
  EltwiseLayer(const LayerParameter& p, PostOp::Function function, float alpha = 0, float beta = 0)
      : SameLayoutLayer(p, DNNL_ARG_SRC), f_{function, alpha, beta, p.type()} {}

  std::optional<PostOp> as_post_op() const override { return f_; }
  bool to_onnx(OnnxGraph& onnx, const std::vector<OnnxValue>& in, const std::vector<OnnxValue>& out) const override {
    return onnx.function(f_, in[0].name, out[0].name);
  }
  Shapes output_shapes(const Shapes& in) const override { return {in[0]}; }

  void reshape(const Ports& in, const Ports& out) override {
    const auto md = shape_like_input(in, out);
    const auto fwd = dnn::eltwise_forward(f_, md, false);
    ops_.init(fwd, dnn::eltwise_backward(f_, md, md, false, fwd));
  }

 private:
  PostOp f_;
};

}  // namespace obo
