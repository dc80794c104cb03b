// Optimizers over the flat buffers and learning-rate schedules.
#include <catch2/catch.hpp>

#include <cmath>

#include "framework/optimizer.h"
#include "tests/test_util.h"

using namespace obo;
using namespace obo::test;

namespace {

// A graph whose parameters are one FC weight (4,3) and bias (4): 16 values to optimise.
Graph sixteen_parameters(const std::string& param_specs = "") {
  return Graph(single_layer_net({{1, 3}}, "name: 'fc' type: 'FC' input: 'x0' output: 'y' fc { num_output: 4 } " + param_specs));
}

onebyone::SolverParameter solver(const std::string& text) {
  onebyone::SolverParameter s;
  parse_text(text, "<test solver>", &s);
  return s;
}

// f(w) = 1/2 sum a_i (w_i - c_i)^2: convex, minimum 0 at w = c. Writes its gradient, returns f.
double quadratic(Graph& g) {
  Tensor& w = g.param_values();
  double f = 0;
  for (int64_t i = 0; i < w.count(); ++i) {
    const double a = 0.5 + i % 4, c = std::sin(1.0 + i);
    f += 0.5 * a * (w.data()[i] - c) * (w.data()[i] - c);
    g.param_grads().data()[i] = static_cast<float>(a * (w.data()[i] - c));
  }
  return f;
}

}  // namespace

TEST_CASE("SGD and Adam minimise a convex quadratic", "[optimizer]") {
  const std::string config = GENERATE(std::string("optimizer: SGD base_lr: 0.1 momentum: 0.9"),
                                      std::string("optimizer: SGD base_lr: 0.1 momentum: 0.9 nesterov: true"),
                                      std::string("optimizer: ADAM base_lr: 0.05 schedule: COSINE max_iter: 400"));
  INFO(config);
  Graph g = sixteen_parameters();
  auto opt = make_optimizer(solver(config), g);
  const double start = quadratic(g);
  double f = start;
  for (int64_t it = 0; it < 400; ++it) {
    f = quadratic(g);
    opt->step(it);
  }
  CHECK(start > 0.5);
  CHECK(f < 1e-6);
  for (int64_t i = 0; i < 16; ++i) CHECK(g.param_values().data()[i] == Approx(std::sin(1.0 + i)).margin(1e-3));
}

TEST_CASE("SGD's momentum, Nesterov and weight decay match hand-computed steps", "[optimizer]") {
  const bool nesterov = GENERATE(false, true);
  Graph g = sixteen_parameters();
  auto opt = make_optimizer(solver(fmt::format("base_lr: 0.1 momentum: 0.9 weight_decay: 0.01 nesterov: {}", nesterov)), g);
  float* w = g.param_values().data();
  float* grad = g.param_grads().data();
  w[0] = 1.f;
  grad[0] = 0.5f;
  opt->step(0);
  // g' = 0.5 + 0.01 * 1 = 0.51; v = 0.51; plain: w = 1 - 0.1 * 0.51; Nesterov: w = 1 - 0.1 * (0.51 + 0.9 * 0.51)
  CHECK(w[0] == Approx(nesterov ? 0.9031 : 0.949).epsilon(1e-6));
  opt->step(1);
  // g' = 0.5 + 0.01 * w; v = 0.9 * 0.51 + g'
  const double w1 = nesterov ? 0.9031 : 0.949, g1 = 0.5 + 0.01 * w1, v1 = 0.9 * 0.51 + g1;
  CHECK(w[0] == Approx(w1 - 0.1 * (nesterov ? g1 + 0.9 * v1 : v1)).epsilon(1e-6));
}

TEST_CASE("Adam and AdamW follow a hand-written reference over steps with changing gradients", "[optimizer]") {
  const bool decoupled = GENERATE(false, true);
  INFO((decoupled ? "ADAMW" : "ADAM"));
  // The weight learns at the base rate with decay; the bias at twice the rate, without decay.
  Graph g = sixteen_parameters("param { lr_mult: 1 } param { lr_mult: 2 decay_mult: 0 }");
  const double base_lr = 0.01, b1 = 0.8, b2 = 0.95, eps = 1e-8, decay = 0.1;
  auto opt = make_optimizer(solver(fmt::format("optimizer: {} base_lr: {} beta1: {} beta2: {} epsilon: {} weight_decay: {} "
                                               "schedule: STEP step_size: 3 gamma: 0.5",
                                               decoupled ? "ADAMW" : "ADAM", base_lr, b1, b2, eps, decay)),
                            g);
  float* w = g.param_values().data();
  float* grad = g.param_grads().data();
  std::vector<double> ref_w(16), m(16, 0), v(16, 0);
  for (int i = 0; i < 16; ++i) ref_w[i] = w[i] = static_cast<float>(0.5 * std::cos(i));
  for (int t = 0; t < 7; ++t) {
    const double lr = base_lr * std::pow(0.5, t / 3);  // STEP: halved at steps 3 and 6
    for (int i = 0; i < 16; ++i) {
      // Gradients that change sign and size from step to step, unlike any constant one.
      grad[i] = static_cast<float>(std::sin(0.7 * t + i) * (1 + 0.3 * i));
      const bool bias = i >= 12;
      const double rate = lr * (bias ? 2 : 1), d = bias ? 0 : decay;
      const double gi = grad[i] + (decoupled ? 0 : d * ref_w[i]);
      m[i] = b1 * m[i] + (1 - b1) * gi;
      v[i] = b2 * v[i] + (1 - b2) * gi * gi;
      const double m_hat = m[i] / (1 - std::pow(b1, t + 1)), v_hat = v[i] / (1 - std::pow(b2, t + 1));
      ref_w[i] -= (decoupled ? rate * d * ref_w[i] : 0) + rate * m_hat / (std::sqrt(v_hat) + eps);
    }
    opt->step(t);
    for (int i = 0; i < 16; ++i) {
      INFO("step " << t << ", parameter " << i);
      CHECK(w[i] == Approx(ref_w[i]).epsilon(1e-5).margin(1e-7));
    }
  }
}

TEST_CASE("a STEP schedule lowers the rate at the step it names, not one later", "[optimizer]") {
  Graph g = sixteen_parameters();
  auto opt = make_optimizer(solver("base_lr: 0.1 momentum: 0 schedule: STEP step_size: 3 gamma: 0.5"), g);
  float* w = g.param_values().data();
  const double expected[] = {0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025};
  for (int t = 0; t < 7; ++t) {
    std::fill(g.param_grads().data(), g.param_grads().data() + 16, 1.f);
    const float before = w[0];
    opt->step(t);
    INFO("step " << t);
    CHECK(before - w[0] == Approx(expected[t]).epsilon(1e-5));
  }
}

TEST_CASE("per-parameter learning-rate and decay multipliers apply", "[optimizer]") {
  // weight frozen (lr_mult 0); bias learns without decay.
  Graph g = sixteen_parameters("param { lr_mult: 0 } param { lr_mult: 2 decay_mult: 0 }");
  auto opt = make_optimizer(solver("base_lr: 0.1 momentum: 0 weight_decay: 0.5"), g);
  Tensor& w = g.param_values();
  std::fill(w.data(), w.data() + 16, 1.f);
  std::fill(g.param_grads().data(), g.param_grads().data() + 16, 1.f);
  opt->step(0);
  for (int i = 0; i < 12; ++i) CHECK(w.data()[i] == 1.f);
  for (int i = 12; i < 16; ++i) CHECK(w.data()[i] == Approx(1.f - 0.2f));
}

TEST_CASE("learning-rate schedules", "[optimizer]") {
  CHECK(learning_rate(solver("base_lr: 0.1"), 1000) == Approx(0.1));
  const auto step = solver("base_lr: 0.1 schedule: STEP step_size: 10 gamma: 0.5");
  CHECK(learning_rate(step, 9) == Approx(0.1));
  CHECK(learning_rate(step, 10) == Approx(0.05));
  CHECK(learning_rate(step, 25) == Approx(0.025));
  const auto multi = solver("base_lr: 1 schedule: MULTISTEP milestones: 5 milestones: 8 gamma: 0.1");
  CHECK(learning_rate(multi, 4) == Approx(1));
  CHECK(learning_rate(multi, 5) == Approx(0.1));
  CHECK(learning_rate(multi, 8) == Approx(0.01));
  const auto cosine = solver("base_lr: 1 schedule: COSINE max_iter: 110 warmup_iter: 10 min_lr: 0.1");
  CHECK(learning_rate(cosine, 0) == Approx(0.1));   // warm-up: (0 + 1) / 10 of the peak
  CHECK(learning_rate(cosine, 4) == Approx(0.5));
  CHECK(learning_rate(cosine, 10) == Approx(1));    // peak after warm-up
  CHECK(learning_rate(cosine, 60) == Approx(0.55)); // half way: the mean of peak and floor
  CHECK(learning_rate(cosine, 110) == Approx(0.1));
  CHECK(learning_rate(cosine, 500) == Approx(0.1));
}

TEST_CASE("solver errors name the field", "[optimizer][errors]") {
  CHECK_THROWS_WITH(validate(solver("schedule: STEP")), "solver: step_size must be positive for schedule STEP, got 0");
  CHECK_THROWS_WITH(validate(solver("schedule: COSINE max_iter: 5 warmup_iter: 5")),
                    "solver: schedule COSINE needs max_iter (5) > warmup_iter (5)");
  CHECK_THROWS_WITH(validate(solver("base_lr: 0")), "solver: base_lr must be positive, got 0");
  CHECK_THROWS_WITH(validate(solver("momentum: 1"), "solver file 'a.prototxt'"),
                    "solver file 'a.prototxt': momentum must be in [0, 1), got 1");
  Graph g = sixteen_parameters();
  CHECK_THROWS_WITH(make_optimizer(solver("schedule: COSINE"), g),
                    "solver: schedule COSINE needs max_iter (resolve() sets it from the run's length)");
  // NaN fails every comparison, so it is refused with the other impossible values.
  const std::pair<const char*, const char*> bad = GENERATE(values<std::pair<const char*, const char*>>({
      {"base_lr: nan", "solver: base_lr must be positive, got nan"},
      {"base_lr: inf", "solver: base_lr must be positive, got inf"},
      {"momentum: nan", "solver: momentum must be in [0, 1), got nan"},
      {"optimizer: ADAM epsilon: 0", "solver: epsilon must be positive, got 0"},
      {"optimizer: ADAM beta2: 1", "solver: beta2 must be in [0, 1), got 1"},
      {"weight_decay: -0.1", "solver: weight_decay must be >= 0, got -0.1"},
      {"schedule: STEP step_size: 10 gamma: nan", "solver: gamma must be positive, got nan"},
      {"min_lr: -1", "solver: min_lr must be in [0, base_lr], got -1"},
      {"batch_size: 0", "solver: batch_size must be positive, got 0"},
      {"epochs: -2", "solver: epochs must be positive, got -2"},
      {"test_interval: 0", "solver: test_interval must be positive, got 0"},
      {"warmup_iter: -5", "solver: warmup_iter must be >= 0, got -5"},
  }));
  INFO(bad.first);
  CHECK_THROWS_WITH(validate(solver(bad.first)), bad.second);
}

TEST_CASE("a solver is resolved for the run's length", "[optimizer]") {
  std::vector<std::string> notices;
  // 2 epochs of 100 steps: the cosine spans the run, and a warm-up of 700 is clamped to half of it.
  const auto short_run = resolve(solver("schedule: COSINE warmup_iter: 700 epochs: 2"), 100, &notices);
  CHECK(short_run.max_iter() == 200);
  CHECK(short_run.warmup_iter() == 100);
  REQUIRE(notices.size() == 1);
  CHECK(notices[0] == "solver: warmup_iter 700 is longer than half of this 200-step run; warming up over 100 steps");
  // More epochs stretch the schedule: where the 2-epoch run has decayed to 0, a 4-epoch one has not.
  notices.clear();
  const auto longer = resolve(solver("schedule: COSINE warmup_iter: 50 epochs: 4"), 100, &notices);
  CHECK(notices.empty());
  CHECK(longer.max_iter() == 400);
  CHECK(learning_rate(resolve(solver("schedule: COSINE warmup_iter: 50 epochs: 2"), 100, &notices), 199) < 1e-3);
  CHECK(learning_rate(longer, 199) > 0.005);
  // A max_iter the solver states is kept; test_batch_size 0 means batch_size.
  const auto fixed = resolve(solver("schedule: COSINE max_iter: 1000 batch_size: 32"), 100, &notices);
  CHECK(fixed.max_iter() == 1000);
  CHECK(fixed.test_batch_size() == 32);
}
