// Shared by the layers that read class scores and labels (SoftmaxCrossEntropy, Accuracy):
// scores (N,K) or (N,K,1,1) in any layout, seen as a plain (N,K) matrix; labels (N) holding
// class indices as floats.
#pragma once

#include <cmath>

#include "framework/dnnl_seam.h"
#include "framework/layer.h"

namespace obo {

class Scores {
 public:
  // Checks the shapes of scores and labels; `who` is the layer, named in errors.
  static void check(const Layer& who, const Shape& scores, const Shape& labels) {
    if (scores.size() < 2 || count(scores) != scores[0] * scores[1])
      who.error("scores must be (N,K) or (N,K,1,1), got {}", to_string(scores));
    if (count(labels) != scores[0])
      who.error("expected {} labels for scores {}, got labels {}", scores[0], to_string(scores), to_string(labels));
  }

  void reshape(const Tensor& scores) {
    n_ = scores.dim(0);
    k_ = scores.dim(1);
    plain_.init(dnn::desc_of(scores), dnn::plain_desc(scores.shape()));
  }

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
  int64_t label(const Layer& who, const Tensor& labels, int64_t i) const {
    const float y = labels.data()[i];
    if (!(y >= 0 && y < k_ && y == std::floor(y)))
      who.error("label {} of example {} is not a class in [0, {})", y, i, k_);
    return static_cast<int64_t>(y);
  }

  int64_t n() const { return n_; }
  int64_t k() const { return k_; }

 private:
  int64_t n_ = 0, k_ = 0;
  dnn::Arg plain_;
};

}  // namespace obo
