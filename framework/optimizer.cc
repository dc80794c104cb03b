#include "framework/optimizer.h"

#include <omp.h>

#include <algorithm>
#include <cmath>

#include "framework/error.h"

namespace obo {

void validate(const SolverParameter& s) {
  // Written as !(x >= lo): NaN fails every comparison, so it is refused with the rest.
  auto need = [](bool ok, const char* field, const char* rule, double value) {
    if (!ok) fail("solver: {} must be {}, got {:g}", field, rule, value);
  };
  need(s.base_lr() > 0 && std::isfinite(s.base_lr()), "base_lr", "positive", s.base_lr());
  need(s.min_lr() >= 0 && s.min_lr() <= s.base_lr(), "min_lr", "in [0, base_lr]", s.min_lr());
  need(s.gamma() > 0 && std::isfinite(s.gamma()), "gamma", "positive", s.gamma());
  need(s.weight_decay() >= 0 && std::isfinite(s.weight_decay()), "weight_decay", ">= 0", s.weight_decay());
  need(s.warmup_iter() >= 0, "warmup_iter", ">= 0", static_cast<double>(s.warmup_iter()));
  need(s.momentum() >= 0 && s.momentum() < 1, "momentum", "in [0, 1)", s.momentum());
  need(s.beta1() >= 0 && s.beta1() < 1, "beta1", "in [0, 1)", s.beta1());
  need(s.beta2() >= 0 && s.beta2() < 1, "beta2", "in [0, 1)", s.beta2());
  need(s.epsilon() > 0 && std::isfinite(s.epsilon()), "epsilon", "positive", s.epsilon());
  need(s.batch_size() > 0, "batch_size", "positive", s.batch_size());
  need(s.epochs() > 0, "epochs", "positive", s.epochs());
  need(s.test_interval() > 0, "test_interval", "positive", s.test_interval());
  need(s.test_batch_size() >= 0, "test_batch_size", ">= 0 (0: batch_size)", s.test_batch_size());
  need(s.augment_shift() >= 0, "augment_shift", ">= 0", s.augment_shift());
  need(s.validation_size() >= 0, "validation_size", ">= 0", s.validation_size());
  switch (s.schedule()) {
    case SolverParameter::STEP:
      need(s.step_size() > 0, "step_size", "positive for schedule STEP", static_cast<double>(s.step_size()));
      break;
    case SolverParameter::MULTISTEP:
      if (s.milestones_size() == 0) fail("solver: schedule MULTISTEP needs milestones");
      if (!std::is_sorted(s.milestones().begin(), s.milestones().end()) || s.milestones(0) < 0)
        fail("solver: milestones must be >= 0 and increasing");
      break;
    case SolverParameter::COSINE:
      if (s.has_max_iter() && s.max_iter() <= s.warmup_iter())
        fail("solver: schedule COSINE needs max_iter ({}) > warmup_iter ({})", s.max_iter(), s.warmup_iter());
      break;
    case SolverParameter::FIXED:
      break;
  }
}

SolverParameter resolve(const SolverParameter& written, int64_t steps_per_epoch, std::vector<std::string>* notices) {
  validate(written);
  SolverParameter s = written;
  const int64_t run = steps_per_epoch * s.epochs();
  if (!s.has_max_iter() && s.warmup_iter() > run / 2) {
    notices->push_back(fmt::format("solver: warmup_iter {} is longer than half of this {}-step run; warming up over {} steps",
                                   s.warmup_iter(), run, run / 2));
    s.set_warmup_iter(run / 2);
  }
  if (s.schedule() == SolverParameter::COSINE && !s.has_max_iter()) s.set_max_iter(run);
  if (s.test_batch_size() == 0) s.set_test_batch_size(s.batch_size());
  return s;
}

double learning_rate(const SolverParameter& s, int64_t iter) {
  const double base = s.base_lr();
  double lr = base;
  switch (s.schedule()) {
    case SolverParameter::FIXED:
      break;
    case SolverParameter::STEP:
      lr = base * std::pow(s.gamma(), static_cast<double>(iter / s.step_size()));
      break;
    case SolverParameter::MULTISTEP: {
      const auto passed = std::upper_bound(s.milestones().begin(), s.milestones().end(), iter) -
                          s.milestones().begin();
      lr = base * std::pow(s.gamma(), static_cast<double>(passed));
      break;
    }
    case SolverParameter::COSINE: {
      // Decays over the iterations after warm-up, so the peak is base_lr.
      const double span = static_cast<double>(s.max_iter() - s.warmup_iter());
      const double t = std::clamp((iter - s.warmup_iter()) / span, 0.0, 1.0);
      lr = s.min_lr() + (base - s.min_lr()) * 0.5 * (1.0 + std::cos(M_PI * t));
      break;
    }
  }
  if (iter < s.warmup_iter()) lr *= static_cast<double>(iter + 1) / s.warmup_iter();
  return lr;
}

Optimizer::Optimizer(const SolverParameter& solver, Graph& graph) : solver_(solver) {
  validate(solver_);
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
