#include "tests/gradient_check.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <utility>

#include "framework/random.h"
#include "tests/reference.h"
#include "tests/test_util.h"

namespace obo::test {
namespace {

// sum(r * y) over the objective blobs, with r the checker's own weights: the graph's copy of
// them is consumed by backward() (a fused post-op masks it in place).
class Objective {
 public:
  Objective(Graph& g, const std::vector<std::string>& blobs, const std::vector<Tensor>& weights, const Context& ctx)
      : g_(g), blobs_(blobs), weights_(weights), ctx_(ctx) {
    g_.forward(ctx_);
    for (const std::string& b : blobs_) at_point_.push_back(g_.value(b).to_plain());
    value_ = sum();
  }

  double at_point() const { return value_; }

  // The objective at the graph's current inputs and parameters. `rounding` is raised to what
  // float rounding can have changed in it: two units of roundoff in each output that differs from
  // the point's, as independent errors, weighted as the objective weighs them.
  double operator()(double* rounding) {
    g_.forward(ctx_);
    double f = 0, changed = 0;
    for (size_t b = 0; b < blobs_.size(); ++b) {
      const Tensor y = g_.value(blobs_[b]).to_plain();
      const float* y0 = at_point_[b].data();
      const float* r = weights_[b].data();
      for (int64_t i = 0; i < y.count(); ++i) {
        const double term = static_cast<double>(y.data()[i]) * r[i];
        f += term;
        if (y.data()[i] != y0[i]) changed += term * term;
      }
    }
    *rounding = std::max(*rounding, std::ldexp(std::sqrt(changed), -23));
    return f;
  }

 private:
  double sum() const {
    double f = 0;
    for (size_t b = 0; b < blobs_.size(); ++b)
      for (int64_t i = 0; i < at_point_[b].count(); ++i)
        f += static_cast<double>(at_point_[b].data()[i]) * weights_[b].data()[i];
    return f;
  }

  Graph& g_;
  const std::vector<std::string>& blobs_;
  const std::vector<Tensor>& weights_;
  const Context ctx_;
  std::vector<Tensor> at_point_;
  double value_ = 0;
};

// The derivative of the objective in one element x of the graph's inputs or parameters, from the
// objective at x + h for a few steps h.
class Derivative {
 public:
  Derivative(float& x, Objective& f, double floor, double tolerance)
      : x_(x), original_(x), f_(f), floor_(floor), tolerance_(tolerance) {}

  // Tries the steps s, s/4, ... s/256 until one is smooth; false where none is (a kink).
  bool operator()(double s, Probe* probe) {
    for (double step = s; step >= s / 256; step /= 4)
      if (central(step, probe)) return true;
    return false;
  }

 private:
  struct Point {
    double h;  // the step as stored in float, measured in double: perturbations are exact
    double f;
  };

  // The objective at x + h, remembered: the steps of one attempt are the next attempt's.
  Point at(double h) {
    const float stored = static_cast<float>(original_ + h);
    const auto known = seen_.find(stored);
    if (known != seen_.end()) return {static_cast<double>(stored) - original_, known->second};
    x_ = stored;
    const double value = f_(&rounding_);
    x_ = original_;
    seen_.emplace(stored, value);
    return {static_cast<double>(stored) - original_, value};
  }

  double scale(double a, double b) const { return std::max({std::abs(a), std::abs(b), floor_}); }

  // Richardson on central differences at steps h and h/2 (error O(h^4)). Smooth: the two
  // differences agree to within what curvature and rounding explain, and the one-sided gap
  // (curvature times the step) halves with the step. A kink within the step breaks the first
  // where it lies off the point, the second where it lies on it. Rounding is allowed four times
  // over here: oneDNN's exp, log and tanh are accurate to a few units, not to one.
  bool central(double step, Probe* probe) {
    const double f0 = f_.at_point();
    struct Difference {
      double h, derivative, gap;
    };
    auto difference = [&](double h) {
      const Point up = at(h), down = at(-h);
      const double forward = (up.f - f0) / up.h, backward = (f0 - down.f) / -down.h;
      // Exact for a quadratic, whatever the two stored steps are: the curvature term cancels.
      const double derivative = (-down.h * forward + up.h * backward) / (up.h - down.h);
      return Difference{(up.h - down.h) / 2, derivative, forward - backward};
    };
    const Difference wide = difference(step), narrow = difference(step / 2);
    const double h1 = wide.h, h2 = narrow.h, tolerance = tolerance_ * scale(wide.derivative, narrow.derivative);
    // Of the differences, rounding of each evaluation reaches D(h) as 1/h and D(h/2) as 2/h; of
    // the gaps, 4/h and 16/h.
    const bool agree = std::abs(wide.derivative - narrow.derivative) <= tolerance / 2 + 4 * 3 * rounding_ / h1;
    const bool halves = std::abs(wide.gap - narrow.gap * h1 / h2) <= tolerance + 4 * 20 * rounding_ / h1;
    if (!agree || !halves) return false;
    probe->numeric = (h1 * h1 * narrow.derivative - h2 * h2 * wide.derivative) / (h1 * h1 - h2 * h2);
    // The extrapolation weighs the narrow difference by 4/3, whose rounding is twice the wide's.
    probe->rounding = 3 * rounding_ / h1;
    return true;
  }

  float& x_;
  const float original_;
  Objective& f_;
  const double floor_, tolerance_;
  double rounding_ = 0;  // the largest rounding of the objective seen (Objective::operator())
  std::map<float, double> seen_;
};

// An element's relative error |a - n| / max(|a|, |n|, floor * scale), and the same less what
// rounding explains: what the tolerance bounds.
std::pair<double, double> relative_errors(const Probe& p, double floor) {
  const double size = std::max({std::abs(p.analytic), std::abs(p.numeric), floor, std::numeric_limits<double>::min()});
  const double raw = std::abs(p.analytic - p.numeric);
  return {raw / size, std::max(0.0, raw - p.rounding) / size};
}

// Judges each tensor's probes: its scale, and every element against the rule. The worst element
// is the one furthest beyond rounding, or where none is, the one with the largest error.
void judge(GradientReport& report) {
  const GradientCheck& o = report.options;
  for (TensorCheck& t : report.tensors) {
    t.scale = 0;
    t.checked = t.kinks = t.failures = 0;
    t.worst = t.worst_raw = 0;
    t.worst_index = -1;
    for (const Probe& p : t.probes)
      if (!p.kink) t.scale = std::max({t.scale, std::abs(p.analytic), std::abs(p.numeric)});
    double worst_raw_there = -1;  // of the worst element
    for (const Probe& p : t.probes) {
      if (p.kink) {
        ++t.kinks;
        continue;
      }
      ++t.checked;
      const auto [raw, err] = relative_errors(p, o.floor * t.scale);
      t.worst_raw = std::max(t.worst_raw, raw);
      if (err > o.tolerance) ++t.failures;
      if (err > t.worst || (err == t.worst && raw > worst_raw_there)) {
        t.worst = err;
        t.worst_index = p.index;
        worst_raw_there = raw;
      }
    }
  }
}

}  // namespace

bool GradientReport::ok() const {
  if (tensors.empty()) return false;
  for (const TensorCheck& t : tensors) {
    const int budget = static_cast<int>(options.max_kink_share * static_cast<double>(t.probes.size()));
    if (t.checked == 0 || t.failures > 0 || t.kinks > budget) return false;
  }
  return true;
}

int GradientReport::checked() const {
  int n = 0;
  for (const TensorCheck& t : tensors) n += t.checked;
  return n;
}

int GradientReport::kinks() const {
  int n = 0;
  for (const TensorCheck& t : tensors) n += t.kinks;
  return n;
}

int GradientReport::failures() const {
  int n = 0;
  for (const TensorCheck& t : tensors) n += t.failures;
  return n;
}

int GradientReport::kinks_in(const std::string& tensor) const {
  for (const TensorCheck& t : tensors)
    if (t.name == tensor) return t.kinks;
  fail("the gradient check has no tensor '{}'", tensor);
}

double GradientReport::worst() const {
  double w = 0;
  for (const TensorCheck& t : tensors) w = std::max(w, t.worst);
  return w;
}

double GradientReport::worst_raw() const {
  double w = 0;
  for (const TensorCheck& t : tensors) w = std::max(w, t.worst_raw);
  return w;
}

std::string GradientReport::worst_at() const {
  const TensorCheck* worst = nullptr;
  for (const TensorCheck& t : tensors)
    if (t.worst_index >= 0 && (!worst || t.worst > worst->worst)) worst = &t;
  if (!worst) return "nothing was checked";
  const Probe& p = worst->probes[static_cast<size_t>(worst->worst_index)];
  const auto [raw, err] = relative_errors(p, options.floor * worst->scale);
  return fmt::format("{}[{}]: analytic {}, numeric {} (relative error {:.2g}, {:.2g} beyond rounding)", worst->name,
                     p.index, p.analytic, p.numeric, raw, err);
}

std::string GradientReport::summary() const {
  std::string s;
  for (const TensorCheck& t : tensors)
    s += fmt::format("{}: {} elements, {} checked, {} kinks, {} failures; worst relative error {:.2g} ({:.2g} beyond rounding)\n",
                     t.name, t.probes.size(), t.checked, t.kinks, t.failures, t.worst_raw, t.worst);
  return s + "worst: " + worst_at();
}

GradientReport GradientReport::planted(double error, int tensor, int64_t element) const {
  GradientReport mutated = *this;
  for (size_t t = 0; t < mutated.tensors.size(); ++t) {
    if (tensor >= 0 && static_cast<size_t>(tensor) != t) continue;
    for (Probe& p : mutated.tensors[t].probes)
      if (element < 0 || p.index == element) p.analytic *= 1 + error;
  }
  judge(mutated);
  return mutated;
}

int64_t GradientReport::typical_element(int tensor) const {
  std::vector<std::pair<double, int64_t>> nonzero;
  for (const Probe& p : tensors.at(static_cast<size_t>(tensor)).probes)
    if (!p.kink && p.analytic != 0) nonzero.emplace_back(std::abs(p.analytic), p.index);
  if (nonzero.empty()) return -1;
  std::nth_element(nonzero.begin(), nonzero.begin() + nonzero.size() / 2, nonzero.end());
  return nonzero[nonzero.size() / 2].second;
}

GradientReport check_gradients(Graph& g, const std::vector<std::string>& objective, const GradientCheck& o) {
  std::vector<Tensor> weights;
  for (size_t b = 0; b < objective.size(); ++b) {
    Tensor& r = g.grad(objective[b]);
    if (r.empty()) fail("objective blob '{}' has no gradient", objective[b]);
    // A loss's gradient is seeded with 1 by backward() itself.
    weights.push_back(random_tensor(r.shape(), 1000 + b, -1.f, 1.f));
    if (g.seeds_gradient(objective[b])) std::fill(weights.back().data(), weights.back().data() + weights.back().count(), 1.f);
    r.assign_plain(weights.back());
  }
  g.forward(o.context);
  g.backward();

  struct Target {
    std::string name;
    Tensor* value;  // plain
    Tensor analytic;
  };
  std::vector<Target> targets;
  for (const std::string& name : g.input_blobs())
    if (!g.grad(name).empty()) targets.push_back({name, &g.value(name), g.grad(name).to_plain()});
  for (Param* p : g.params()) targets.push_back({p->name, &p->value, p->grad});

  GradientReport report;
  report.options = o;
  Objective f(g, objective, weights, o.context);
  for (Target& target : targets) {
    TensorCheck t;
    t.name = target.name;
    // Before the numeric derivatives are known, the analytic gradients give the floor's scale.
    double scale = 0;
    for (int64_t i = 0; i < target.analytic.count(); ++i) scale = std::max(scale, std::abs(double{target.analytic.data()[i]}));
    for (int64_t i = 0; i < target.value->count(); ++i) {
      Probe p;
      p.index = i;
      p.analytic = target.analytic.data()[i];
      p.kink = !Derivative(target.value->data()[i], f, o.floor * scale, o.tolerance)(o.step, &p);
      t.probes.push_back(p);
    }
    report.tensors.push_back(std::move(t));
  }
  judge(report);
  g.forward(o.context);
  return report;
}

ModelReport check_model_gradients(Graph& g, const onebyone::NetParameter& net, const std::string& objective,
                                  const ModelCheck& o) {
  const Context eval = Context::evaluation();
  Tensor& r = g.grad(objective);
  if (r.empty()) fail("objective blob '{}' has no gradient", objective);
  const Tensor w = random_tensor(r.shape(), 1000, -1.f, 1.f);
  r.assign_plain(w);
  const Array weights = to_array(w);
  g.forward(eval);
  g.backward();

  // The point, in double, and what is checked: the image inputs the net reads, every parameter.
  std::set<std::string> read;
  for (const LayerParameter& l : net.layer()) read.insert(l.input().begin(), l.input().end());
  std::map<std::string, Array> inputs, params;
  struct Target {
    std::string name;
    Array* value;
    Array analytic;
  };
  std::vector<Target> targets;
  for (const std::string& name : g.input_blobs()) inputs[name] = to_array(g.value(name));
  for (const std::string& name : g.input_blobs())
    if (read.count(name) && !g.grad(name).empty()) targets.push_back({name, &inputs[name], to_array(g.grad(name))});
  for (Param* p : g.params()) params[p->name] = to_array(p->value);
  for (Buffer* b : g.buffers()) params[b->name] = to_array(b->value);
  for (Param* p : g.params()) targets.push_back({p->name, &params[p->name], to_array(p->grad)});

  const ReferenceNet reference(net);
  auto f = [&] {
    const Array y = reference.forward(inputs, params).at(objective);
    double sum = 0;
    for (size_t i = 0; i < y.data.size(); ++i) sum += y.data[i] * weights.data[i];
    return sum;
  };
  const double f0 = f();
  ModelReport report;
  for (size_t t = 0; t < targets.size(); ++t) {
    Target& target = targets[t];
    std::vector<double>& x = target.value->data;
    const std::vector<double> original = x;
    bool smooth = false;
    for (int attempt = 0; attempt < o.directions && !smooth; ++attempt) {
      std::vector<double> v(x.size());
      for (size_t i = 0; i < v.size(); ++i) v[i] = 2.0 * uniform(t, 100 + attempt, i) - 1.0;
      auto at = [&](double h) {
        for (size_t i = 0; i < x.size(); ++i) x[i] = original[i] + h * v[i];
        const double value = f();
        x = original;
        return value;
      };
      const double up = at(o.step), down = at(-o.step);
      const double forward = (up - f0) / o.step, backward = (f0 - down) / o.step;
      // A kink within the step makes the central difference wrong by up to half this gap.
      smooth = std::abs(forward - backward) <= o.tolerance / 10 * std::max({std::abs(forward), std::abs(backward), o.floor});
      if (!smooth) {
        ++report.kinks;
        continue;
      }
      const double numeric = (up - down) / (2 * o.step);
      double analytic = 0;
      for (size_t i = 0; i < v.size(); ++i) analytic += o.inject * target.analytic.data[i] * v[i];
      ++report.checked;
      const double err = std::abs(analytic - numeric) / std::max({std::abs(analytic), std::abs(numeric), o.floor});
      if (err > report.worst) {
        report.worst = err;
        report.worst_at = fmt::format("{} along a random direction: analytic {}, numeric {}", target.name, analytic, numeric);
      }
      if (err > o.tolerance) ++report.failures;
    }
    if (!smooth) ++report.unchecked;
  }
  return report;
}

}  // namespace obo::test
