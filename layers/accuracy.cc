// Accuracy: the fraction of examples whose highest score is their label (ties go to the lower
// class). An evaluation metric: no gradient flows through it.
//   scores (N,K) or (N,K,1,1), labels (N) -> accuracy (1)
#include "framework/registry.h"
#include "layers/scores.h"

namespace obo {
namespace {

class AccuracyLayer : public ScoresLayer {
 public:
  using ScoresLayer::ScoresLayer;

  Role role() const override { return Role::kMetric; }

  void forward(const Ports& in, const Ports& out, const Context&) override {
    const float* s = read(*in[0].value);
    int64_t correct = 0;
    for (int64_t i = 0; i < n_; ++i) {
      const float* row = s + i * k_;
      int64_t best = 0;
      for (int64_t j = 1; j < k_; ++j)
        if (row[j] > row[best]) best = j;
      correct += best == label(*in[1].value, i);
    }
    out[0].value->data()[0] = static_cast<float>(correct) / static_cast<float>(n_);
  }

  void backward(const Ports&, const Ports&) override {}
};

}  // namespace

REGISTER_LAYER("Accuracy", AccuracyLayer);

}  // namespace obo
