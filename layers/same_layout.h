// The base of a one-input layer whose tensors all keep the input's layout, on oneDNN's primitives
// through dnn::SameLayoutOps: the element-wise activations (layers/eltwise.h), Softmax, LRN. A
// layer says at construction which value its backward reads (DNNL_ARG_SRC: its input, or
// DNNL_ARG_DST: its output) and builds its two primitives in reshape(); forward, backward and what
// backward reads follow from that.
#pragma once

#include "framework/dnnl_seam.h"
#include "framework/layer.h"

namespace obo {

class SameLayoutLayer : public Layer {
 public:
  SameLayoutLayer(const LayerParameter& p, int backward_reads) : Layer(p), ops_(backward_reads) {
    expect_arity(1, 1, 1);
  }

  void forward(const Ports& in, const Ports& out, const Context&) override { ops_.forward(*in[0].value, *out[0].value); }
  void backward(const Ports& in, const Ports& out) override {
    ops_.backward(*in[0].value, *out[0].value, *out[0].grad, *in[0].grad);
  }
  bool backward_reads_input(size_t) const override { return ops_.reads_input(); }
  bool backward_reads_output(size_t) const override { return ops_.reads_output(); }

 protected:
  // The first half of reshape(): the output takes the input's shape and layout. Returns their
  // memory descriptor, for the primitives the layer then hands ops_.init().
  dnn::memory::desc shape_like_input(const Ports& in, const Ports& out) {
    out[0].value->reshape(in[0].value->shape(), in[0].value->layout());
    return dnn::desc_of(*in[0].value);
  }

  dnn::SameLayoutOps ops_;
};

}  // namespace obo
