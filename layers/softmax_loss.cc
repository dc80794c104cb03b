// SoftmaxCrossEntropy: mean over the batch of -log softmax(scores)[label]. The log-softmax runs
// on oneDNN (max-subtracted, so large scores do not overflow); the gradient is the textbook
// (softmax - onehot) / N, scaled by the loss's own gradient (1 when it is the objective).
//   scores (N,K) or (N,K,1,1), labels (N) -> loss (1)
#include <cmath>

#include "framework/registry.h"
#include "layers/scores.h"

namespace obo {
namespace {

class SoftmaxCrossEntropyLayer : public ScoresLayer {
 public:
  using ScoresLayer::ScoresLayer;

  Role role() const override { return Role::kLoss; }

  void reshape(const Ports& in, const Ports& out) override {
    ScoresLayer::reshape(in, out);
    log_probs_.reshape({n_, k_});
    const auto md = dnn::plain_desc({n_, k_});
    auto pd = dnn::logsoftmax_forward(md, 1);
    src_ = dnn::unbound(md);
    dst_ = dnn::memory(md, dnn::engine(), log_probs_.data());
    forward_ = dnn::create(pd);
    args_ = {{DNNL_ARG_SRC, src_}, {DNNL_ARG_DST, dst_}};
  }

  void forward(const Ports& in, const Ports& out, const Context&) override {
    src_.set_data_handle(const_cast<float*>(read(*in[0].value)));
    dnn::execute(forward_, args_);
    dnn::stream().wait();
    double sum = 0;
    for (int64_t i = 0; i < n_; ++i) sum -= log_probs_.data()[i * k_ + label(*in[1].value, i)];
    out[0].value->data()[0] = static_cast<float>(sum / n_);
  }

  // Backward reads the labels and its own log-probabilities, not the scores.
  bool backward_reads_input(size_t i) const override { return i == 1; }
  bool backward_reads_output(size_t) const override { return false; }
  void backward(const Ports& in, const Ports& out) override {
    const float scale = out[0].grad->data()[0] / static_cast<float>(n_);
    const float* lp = log_probs_.data();
    float* d = target(*in[0].grad);
    for (int64_t i = 0; i < n_; ++i) {
      const int64_t y = label(*in[1].value, i);
      for (int64_t j = 0; j < k_; ++j) d[i * k_ + j] = scale * (std::exp(lp[i * k_ + j]) - (j == y ? 1.f : 0.f));
    }
    commit(*in[0].grad);
  }

 private:
  Tensor log_probs_;  // (N,K)
  dnn::memory src_, dst_;
  dnnl::primitive forward_;
  dnn::Args args_;
};

}  // namespace

REGISTER_LAYER("SoftmaxCrossEntropy", SoftmaxCrossEntropyLayer);

}  // namespace obo
