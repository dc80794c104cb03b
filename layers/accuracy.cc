// Accuracy: the fraction of examples whose highest score is their label (ties go to the lower
// class). An evaluation metric: no gradient flows through it.
//   scores (N,K) or (N,K,1,1), labels (N) -> accuracy (1)
#include "framework/registry.h"
#include "layers/scores.h"

namespace obo {
namespace {

class AccuracyLayer : public Layer {
 public:
  explicit AccuracyLayer(const LayerParameter& p) : Layer(p) { expect_arity(2, 2, 1); }

  Role role() const override { return Role::kMetric; }

  Shapes output_shapes(const Shapes& in) const override {
    Scores::check(*this, in[0], in[1]);
    return {{1}};
  }

  void reshape(const Ports& in, const Ports& out) override {
    scores_.reshape(*in[0].value);
    out[0].value->reshape({1});
  }

  void forward(const Ports& in, const Ports& out, const Context&) override {
    const float* s = scores_.read(*in[0].value);
    const int64_t n = scores_.n(), k = scores_.k();
    int64_t correct = 0;
    for (int64_t i = 0; i < n; ++i) {
      const float* row = s + i * k;
      int64_t best = 0;
      for (int64_t j = 1; j < k; ++j)
        if (row[j] > row[best]) best = j;
      correct += best == scores_.label(*this, *in[1].value, i);
    }
    out[0].value->data()[0] = static_cast<float>(correct) / static_cast<float>(n);
  }

  void backward(const Ports&, const Ports&) override {}

 private:
  Scores scores_;
};

}  // namespace

REGISTER_LAYER("Accuracy", AccuracyLayer);

}  // namespace obo
