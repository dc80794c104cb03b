// SoftmaxCrossEntropy: mean over the batch of -log softmax(scores)[label]. The log-softmax runs
// on oneDNN (max-subtracted, so large scores do not overflow); the gradient is the textbook
// (softmax - onehot) / N, scaled by the loss's own gradient (1 when it is the objective).
//   scores (N,K) or (N,K,1,1), labels (N) -> loss (1)
#include <cmath>

#include "framework/registry.h"
#include "layers/scores.h"

namespace obo {
namespace {

class SoftmaxCrossEntropyLayer : public Layer {
 public:
  explicit SoftmaxCrossEntropyLayer(const LayerParameter& p) : Layer(p) { expect_arity(2, 2, 1); }

  Role role() const override { return Role::kLoss; }
  bool propagates(size_t input) const override { return input == 0; }  // not to the labels

  Shapes output_shapes(const Shapes& in) const override {
    Scores::check(*this, in[0], in[1]);
    return {{1}};
  }

  void reshape(const Ports& in, const Ports& out) override {
    scores_.reshape(*in[0].value);
    out[0].value->reshape({1});
    log_probs_.reshape({scores_.n(), scores_.k()});
    const auto md = dnn::plain_desc({scores_.n(), scores_.k()});
    auto pd = dnn::logsoftmax_forward(md, 1);
    src_ = dnn::unbound(md);
    dst_ = dnn::memory(md, dnn::engine(), log_probs_.data());
    forward_ = dnn::create(pd);
    args_ = {{DNNL_ARG_SRC, src_}, {DNNL_ARG_DST, dst_}};
  }

  void forward(const Ports& in, const Ports& out, const Context&) override {
    src_.set_data_handle(const_cast<float*>(scores_.read(*in[0].value)));
    dnn::execute(forward_, args_);
    dnn::stream().wait();
    const int64_t n = scores_.n(), k = scores_.k();
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) sum -= log_probs_.data()[i * k + scores_.label(*this, *in[1].value, i)];
    out[0].value->data()[0] = static_cast<float>(sum / n);
  }

  void backward(const Ports& in, const Ports& out) override {
    const int64_t n = scores_.n(), k = scores_.k();
    const float scale = out[0].grad->data()[0] / static_cast<float>(n);
    const float* lp = log_probs_.data();
    float* d = scores_.target(*in[0].grad);
    for (int64_t i = 0; i < n; ++i) {
      const int64_t y = scores_.label(*this, *in[1].value, i);
      for (int64_t j = 0; j < k; ++j) d[i * k + j] = scale * (std::exp(lp[i * k + j]) - (j == y ? 1.f : 0.f));
    }
    scores_.commit(*in[0].grad);
  }

 private:
  Scores scores_;
  Tensor log_probs_;  // (N,K)
  dnn::memory src_, dst_;
  dnnl::primitive forward_;
  dnn::Args args_;
};

}  // namespace

REGISTER_LAYER("SoftmaxCrossEntropy", SoftmaxCrossEntropyLayer);

}  // namespace obo
