// The base of the layers that read class scores and labels (SoftmaxCrossEntropy, Accuracy):
// inputs scores (N,K) or (N,K,1,1) in any layout, seen as a plain (N,K) matrix, and labels (N)
// holding class indices as floats; one output of shape (1). No gradient flows to the labels.
#pragma once

#include <cmath>

#include "framework/dnnl_seam.h"
#include "framework/layer.h"

namespace obo {

class ScoresLayer : public Layer {
 public:
  explicit ScoresLayer(const LayerParameter& p) : Layer(p) { expect_arity(2, 2, 1); }

  bool propagates(size_t input) const override { return input == 0 && role() != Role::kMetric; }

  Shapes output_shapes(const Shapes& in) const override {
    const Shape& scores = in[0];
    if (scores.size() < 2 || count(scores) != scores[0] * scores[1])
      error("scores must be (N,K) or (N,K,1,1), got {}", to_string(scores));
    if (count(in[1]) != scores[0])
      error("expected {} labels for scores {}, got labels {}", scores[0], to_string(scores), to_string(in[1]));
    return {{1}};
  }

  void reshape(const Ports& in, const Ports& out) override {
    n_ = in[0].value->dim(0);
    k_ = in[0].value->dim(1);
    plain_.init(dnn::desc_of(*in[0].value), dnn::plain_desc(in[0].value->shape()));
    out[0].value->reshape({1});
  }

 protected:
  // Plain (N,K) scores of `t`, converted from its layout if needed.
  const float* read(const Tensor& t) {
    plain_.read(t);
    return static_cast<const float*>(plain_.mem().get_data_handle());
  }
  // A plain (N,K) buffer to write a gradient for `t` into; commit() stores it in t's layout.
  float* target(Tensor& t) {
    plain_.bind(t);
    return static_cast<float*>(plain_.mem().get_data_handle());
  }
  void commit(Tensor& t) { plain_.write(t); }

  // The class index of label i; throws unless it is an integer in [0, K).
  int64_t label(const Tensor& labels, int64_t i) const {
    const float y = labels.data()[i];
    if (!(y >= 0 && y < k_ && y == std::floor(y))) error("label {} of example {} is not a class in [0, {})", y, i, k_);
    return static_cast<int64_t>(y);
  }

  int64_t n_ = 0, k_ = 0;

 private:
  dnn::Arg plain_;
};

}  // namespace obo
