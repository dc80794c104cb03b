#include "tests/gradient_check.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "framework/random.h"
#include "tests/test_util.h"

namespace obo::test {
namespace {

double objective_value(Graph& g, const std::vector<std::string>& blobs, const Context& ctx) {
  g.forward(ctx);
  double sum = 0;
  for (const std::string& name : blobs) {
    const Tensor& y = g.value(name);
    const Tensor& r = g.grad(name);  // same layout as y
    for (size_t i = 0; i < y.size(); ++i) sum += static_cast<double>(y.data()[i]) * r.data()[i];
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
  for (size_t b = 0; b < objective.size(); ++b) {
    Tensor& r = g.grad(objective[b]);
    if (r.empty()) fail("objective blob '{}' has no gradient", objective[b]);
    Tensor weights = random_tensor(r.shape(), 1000 + b, -1.f, 1.f);
    r.assign_plain(weights);
  }
  g.forward(o.context);
  g.backward();

  std::vector<Target> targets;
  for (const std::string& name : g.input_blobs())
    if (!g.grad(name).empty()) targets.push_back({name, &g.value(name), g.grad(name).to_plain()});
  for (Param* p : g.params()) targets.push_back({p->name, &p->value, p->grad});

  GradientReport report;
  for (size_t t = 0; t < targets.size(); ++t) {
    Target& target = targets[t];
    float* x = target.value->data();
    for (int64_t i : sample(target.value->count(), o.samples, t)) {
      const float original = x[i];
      auto at = [&](double h) {
        x[i] = static_cast<float>(original + h);
        const double f = objective_value(g, objective, o.context);
        x[i] = original;
        return f;
      };
      // Differences over the float actually stored, not the nominal step.
      const double h1 = static_cast<float>(original + o.step) - original;
      const double h2 = static_cast<float>(original + o.step / 2) - original;
      const double wide = (at(h1) - at(-h1)) / (2 * h1);
      const double narrow = (at(h2) - at(-h2)) / (2 * h2);
      const double a = o.inject * target.analytic.data()[i];
      const double agree = std::abs(wide - narrow) / std::max({std::abs(wide), std::abs(narrow), o.floor});
      if (agree > o.tolerance) {
        ++report.kinks;
        continue;
      }
      ++report.checked;
      const double err = std::abs(a - wide) / std::max({std::abs(a), std::abs(wide), o.floor});
      if (err > report.worst) {
        report.worst = err;
        report.worst_at = fmt::format("{}[{}]: analytic {}, numeric {}", target.name, i, a, wide);
      }
      if (err > o.tolerance) ++report.failures;
    }
  }
  report.max_kinks = static_cast<int>(o.max_kink_share * (report.checked + report.kinks));
  g.forward(o.context);
  return report;
}

}  // namespace obo::test
