#include "tests/gradient_check.h"

#include <algorithm>
#include <cmath>
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
double objective_value(Graph& g, const std::vector<std::string>& blobs, const std::vector<Tensor>& weights,
                       const Context& ctx) {
  g.forward(ctx);
  double sum = 0;
  for (size_t b = 0; b < blobs.size(); ++b) {
    const Tensor y = g.value(blobs[b]).to_plain();
    for (int64_t i = 0; i < y.count(); ++i) sum += static_cast<double>(y.data()[i]) * weights[b].data()[i];
  }
  return sum;
}

struct Target {
  std::string name;
  Tensor* value;      // plain
  Tensor analytic;    // plain copy of the gradient
};

std::vector<int64_t> sample(int64_t n, int samples, uint64_t seed) {
  std::vector<int64_t> picked;
  if (n <= samples) {
    for (int64_t i = 0; i < n; ++i) picked.push_back(i);
    return picked;
  }
  std::set<int64_t> seen;
  for (uint64_t k = 0; static_cast<int>(seen.size()) < samples; ++k)
    seen.insert(static_cast<int64_t>(random_bits(seed, 1, k) % static_cast<uint64_t>(n)));
  return {seen.begin(), seen.end()};
}

}  // namespace

GradientReport check_gradients(Graph& g, const std::vector<std::string>& objective,
                               const GradientCheck& o) {
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

  std::vector<Target> targets;
  for (const std::string& name : g.input_blobs())
    if (!g.grad(name).empty()) targets.push_back({name, &g.value(name), g.grad(name).to_plain()});
  for (Param* p : g.params()) targets.push_back({p->name, &p->value, p->grad});

  const double f0 = objective_value(g, objective, weights, o.context);
  GradientReport report;
  // Compares the derivative of the objective along `direction` (over one target's elements)
  // with the analytic gradient's projection on it.
  auto probe = [&](Target& target, const std::vector<std::pair<int64_t, float>>& direction,
                   const std::string& where) {
    float* x = target.value->data();
    double a = 0;
    for (const auto& [i, v] : direction) a += o.inject * target.analytic.data()[i] * v;
    std::vector<float> original;
    for (const auto& [i, v] : direction) original.push_back(x[i]);
    auto at = [&](double h) {
      for (size_t k = 0; k < direction.size(); ++k)
        x[direction[k].first] = static_cast<float>(original[k] + h * direction[k].second);
      const double f = objective_value(g, objective, weights, o.context);
      for (size_t k = 0; k < direction.size(); ++k) x[direction[k].first] = original[k];
      return f;
    };
    // The largest step at which the objective looks linear: the one-sided differences agree,
    // and the central difference does not change when the step halves. A single kink within
    // the step makes the central difference wrong by half the one-sided gap, so a gap within
    // the tolerance bounds the error by half of it; the second test catches kinks whose gaps
    // cancel. Smooth curvature fails the tests too, and shrinks with the step.
    bool smooth = false;
    double numeric = 0;
    for (double step = o.step; step >= o.step / 16 && !smooth; step /= 4) {
      // Along one element, the steps as stored in float; along a direction, rounding averages out.
      const auto stored = [&](double s) {
        return direction.size() == 1 ? static_cast<float>(original[0] + s) - original[0] : s;
      };
      const double h = stored(step), half = stored(step / 2);
      const double up = at(h), down = at(-h);
      const double forward = (up - f0) / h, backward = (f0 - down) / h;
      numeric = (up - down) / (2 * h);
      const double narrow = (at(half) - at(-half)) / (2 * half);
      const double scale = std::max({std::abs(forward), std::abs(backward), o.floor});
      smooth = std::abs(forward - backward) <= o.tolerance * scale && std::abs(numeric - narrow) <= o.tolerance * scale / 2;
    }
    if (!smooth) {
      ++report.kinks;
      return;
    }
    ++report.checked;
    const double err = std::abs(a - numeric) / std::max({std::abs(a), std::abs(numeric), o.floor});
    if (err > report.worst) {
      report.worst = err;
      report.worst_at = fmt::format("{}: analytic {}, numeric {}", where, a, numeric);
    }
    if (err > o.tolerance) ++report.failures;
  };

  for (size_t t = 0; t < targets.size(); ++t) {
    Target& target = targets[t];
    const int64_t n = target.value->count();
    if (o.directional) {
      std::vector<std::pair<int64_t, float>> direction;
      for (int64_t i = 0; i < n; ++i) direction.emplace_back(i, 2.f * uniform(t, 5, i) - 1.f);
      probe(target, direction, target.name + " along a random direction");
    } else {
      for (int64_t i : sample(n, o.samples, t)) probe(target, {{i, 1.f}}, fmt::format("{}[{}]", target.name, i));
    }
  }
  report.max_kinks = static_cast<int>(o.max_kink_share * (report.checked + report.kinks));
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
