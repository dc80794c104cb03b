#include "framework/solver.h"

#include <algorithm>
#include <cmath>

#include "framework/error.h"

namespace obo {

void validate(const SolverParameter& s, const std::string& origin) {
  // Written as !(x >= lo): NaN fails every comparison, so it is refused with the rest.
  auto need = [&](bool ok, const char* field, const char* rule, double value) {
    if (!ok) fail("{}: {} must be {}, got {:g}", origin, field, rule, value);
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
      if (s.milestones_size() == 0) fail("{}: schedule MULTISTEP needs milestones", origin);
      if (!std::is_sorted(s.milestones().begin(), s.milestones().end()) || s.milestones(0) < 0)
        fail("{}: milestones must be >= 0 and increasing", origin);
      break;
    case SolverParameter::COSINE:
      if (s.has_max_iter() && s.max_iter() <= s.warmup_iter())
        fail("{}: schedule COSINE needs max_iter ({}) > warmup_iter ({})", origin, s.max_iter(), s.warmup_iter());
      break;
    case SolverParameter::FIXED:
      break;
  }
}

SolverParameter resolve(const SolverParameter& written, int64_t steps_per_epoch, std::vector<std::string>* notices) {
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

}  // namespace obo
