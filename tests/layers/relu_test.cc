// ReLU on plain and on blocked (convolution output) layouts.
#include <catch2/catch.hpp>

#include <algorithm>

#include "tests/gradient_check.h"
#include "tests/test_util.h"

using namespace obo;
using namespace obo::test;

TEST_CASE("ReLU is max(0, x) and its gradient checks", "[relu]") {
  Graph g(single_layer_net({{7, 3, 5, 9}}, "name: 'r' type: 'ReLU' input: 'x0' output: 'y'"), {1, true});
  randomize_inputs(g, 3);
  g.forward({});
  const Tensor x = g.value("x0").to_plain(), y = g.value("y").to_plain();
  for (int64_t i = 0; i < x.count(); ++i) REQUIRE(y.data()[i] == std::max(0.f, x.data()[i]));
  const GradientReport report = check_gradients(g, {"y"});
  INFO(report.worst_at);
  CHECK(report.ok());
}

TEST_CASE("ReLU after a convolution works in the convolution's blocked layout", "[relu]") {
  Graph g(parse_net(R"(
    layer { name: 'in' type: 'Input' output: 'x' input_param { shape { dim: 2 dim: 16 dim: 6 dim: 6 } } }
    layer { name: 'c' type: 'Conv1x1' input: 'x' output: 'c' conv { num_output: 32 } }
    layer { name: 'r' type: 'ReLU' input: 'c' output: 'y' })"),
          {1, true});
  randomize_inputs(g, 3);
  randomize_params(g, 4, 0.3f);
  g.forward({});
  CHECK(g.value("y").layout() == g.value("c").layout());
  const Tensor c = g.value("c").to_plain(), y = g.value("y").to_plain();
  for (int64_t i = 0; i < c.count(); ++i) REQUIRE(y.data()[i] == std::max(0.f, c.data()[i]));
  // Each input element reaches 32 ReLUs: a small step keeps most samples clear of their kinks.
  GradientCheck small_step;
  small_step.step = 1e-3;
  const GradientReport report = check_gradients(g, {"y"}, small_step);
  INFO(report.worst_at);
  CHECK(report.ok());
}
