#include "framework/optimizer.h"

#include <omp.h>

#include <algorithm>
#include <cmath>

#include "framework/error.h"

namespace obo {

Optimizer::Optimizer(const SolverParameter& solver, Graph& graph) : solver_(solver) {
  if (solver_.schedule() == SolverParameter::COSINE && !solver_.has_max_iter())
    fail("solver: schedule COSINE needs max_iter (resolve() sets it from the run's length)");
  w_ = graph.param_values().data();
  g_ = graph.param_grads().data();
  n_ = graph.param_values().count();
  int64_t offset = 0;
  for (const Param* p : graph.params()) {
    const int64_t n = count(p->shape);
    segments_.push_back({offset, offset + n, p->lr_mult, p->decay_mult});
    offset += n;
  }
}

void Optimizer::step(int64_t iter) {
  const float lr = static_cast<float>(learning_rate(solver_, iter));
  const float decay = solver_.weight_decay();
#pragma omp parallel
  {
    const int64_t threads = omp_get_num_threads(), t = omp_get_thread_num();
    const int64_t begin = n_ * t / threads, end = n_ * (t + 1) / threads;
    for (const Segment& s : segments_) {
      const int64_t b = std::max(begin, s.begin), e = std::min(end, s.end);
      if (b < e) update(b, e, lr * s.lr_mult, decay * s.decay_mult, iter);
    }
  }
}

std::vector<Tensor*> Optimizer::state() {
  std::vector<Tensor*> out;
  for (Tensor& t : state_) out.push_back(&t);
  return out;
}

namespace {

// SGD with momentum in PyTorch's form (the velocity holds gradients, not steps, so a change of
// learning rate takes effect at once):  g += decay*w;  v = mu*v + g;  w -= lr * (nesterov ?
// g + mu*v : v).
class Sgd : public Optimizer {
 public:
  Sgd(const SolverParameter& s, Graph& g) : Optimizer(s, g) { state_.emplace_back(Shape{n_}); }

 private:
  void update(int64_t begin, int64_t end, float lr, float decay, int64_t) override {
    const float mu = solver_.momentum();
    const bool nesterov = solver_.nesterov();
    float* v = state_[0].data();
#pragma omp simd
    for (int64_t i = begin; i < end; ++i) {
      const float g = g_[i] + decay * w_[i];
      v[i] = mu * v[i] + g;
      w_[i] -= lr * (nesterov ? g + mu * v[i] : v[i]);
    }
  }
};

// Adam (Kingma & Ba) with bias-corrected moments, in PyTorch's form. Weight decay is added to
// the gradient as L2 (ADAM), or decoupled from the moments (ADAMW): w -= lr * decay * w.
class Adam : public Optimizer {
 public:
  Adam(const SolverParameter& s, Graph& g, bool decoupled) : Optimizer(s, g), decoupled_(decoupled) {
    state_.emplace_back(Shape{n_});  // first moment
    state_.emplace_back(Shape{n_});  // second moment
  }

 private:
  void update(int64_t begin, int64_t end, float lr, float decay, int64_t iter) override {
    const float b1 = solver_.beta1(), b2 = solver_.beta2(), eps = solver_.epsilon();
    const double t = static_cast<double>(iter + 1);
    const float c1 = static_cast<float>(1.0 / (1.0 - std::pow(b1, t)));
    const float c2 = static_cast<float>(1.0 / (1.0 - std::pow(b2, t)));
    const float l2 = decoupled_ ? 0.f : decay, shrink = decoupled_ ? 1.f - lr * decay : 1.f;
    float* m = state_[0].data();
    float* v = state_[1].data();
#pragma omp simd
    for (int64_t i = begin; i < end; ++i) {
      const float g = g_[i] + l2 * w_[i];
      m[i] = b1 * m[i] + (1 - b1) * g;
      v[i] = b2 * v[i] + (1 - b2) * g * g;
      w_[i] = shrink * w_[i] - lr * (m[i] * c1) / (std::sqrt(v[i] * c2) + eps);
    }
  }

  const bool decoupled_;
};

}  // namespace

std::unique_ptr<Optimizer> make_optimizer(const SolverParameter& solver, Graph& graph) {
  if (graph.param_values().empty()) fail("the net has no parameters to optimise");
  switch (solver.optimizer()) {
    case SolverParameter::SGD:
      return std::make_unique<Sgd>(solver, graph);
    case SolverParameter::ADAM:
      return std::make_unique<Adam>(solver, graph, false);
    case SolverParameter::ADAMW:
      return std::make_unique<Adam>(solver, graph, true);
  }
  fail("solver: unknown optimizer {}", static_cast<int>(solver.optimizer()));
}

}  // namespace obo
