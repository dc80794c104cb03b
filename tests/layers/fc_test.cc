// FC against the naive reference on 2-D and 4-D inputs, plain and blocked, with gradients.
#include <catch2/catch.hpp>

#include "tests/gradient_check.h"
#include "tests/reference.h"
#include "tests/test_util.h"

using namespace obo;
using namespace obo::test;

TEST_CASE("FC matches the naive reference and its gradients check", "[fc]") {
  const auto [shape, outputs, bias] = GENERATE(values<std::tuple<Shape, int, bool>>({
      {{1, 20}, 3, true},
      {{7, 5, 3, 3}, 10, true},
      {{2, 17, 1, 1}, 4, false},
  }));
  INFO("x" << to_string(shape) << " -> " << outputs << (bias ? " bias" : ""));
  Graph g(single_layer_net({shape}, fmt::format("name: 'fc' type: 'FC' input: 'x0' output: 'y' fc {{ num_output: {} bias_term: {} }}",
                                                outputs, bias ? "true" : "false")),
          GraphOptions::for_gradient_check(1));
  randomize_inputs(g, 1);
  randomize_params(g, 2);
  g.forward(Context::evaluation());
  CHECK(g.value("y").shape() == Shape{shape[0], outputs});
  const Array b = bias ? to_array(g.params()[1]->value) : Array{};
  const Array ref = fc_ref(to_array(g.value("x0")), to_array(g.params()[0]->value), bias ? &b : nullptr);
  CHECK(max_relative_error(g.value("y"), ref) < 1e-5);
  const GradientReport report = check_gradients(g, {"y"});
  INFO(report.summary());
  CHECK(report.ok());
}

TEST_CASE("FC reads a convolution's blocked output as C,H,W features", "[fc]") {
  Graph g(parse_net(R"(
    layer { name: 'in' type: 'Input' output: 'x' input_param { shape { dim: 3 dim: 16 dim: 3 dim: 3 } } }
    layer { name: 'c' type: 'Conv1x1' input: 'x' output: 'c' conv { num_output: 16 } }
    layer { name: 'fc' type: 'FC' input: 'c' output: 'y' fc { num_output: 5 } })"),
          GraphOptions::for_gradient_check(1));
  randomize_inputs(g, 1);
  randomize_params(g, 2, 0.3f);
  g.forward(Context::evaluation());
  const Array b = to_array(g.params()[3]->value);
  const Array ref = fc_ref(to_array(g.value("c")), to_array(g.params()[2]->value), &b);
  CHECK(max_relative_error(g.value("y"), ref) < 1e-5);
  CHECK(g.params()[2]->shape == Shape{5, 144});
  const GradientReport report = check_gradients(g, {"y"});
  INFO(report.summary());
  CHECK(report.ok());
}

TEST_CASE("FC rejects an input whose feature count changed", "[fc][errors]") {
  Graph g(single_layer_net({{2, 6}}, "name: 'fc' type: 'FC' input: 'x0' output: 'y' fc { num_output: 3 }"));
  CHECK_THROWS_WITH(g.reshape({{"x0", {2, 7}}}), "layer 'fc' (FC): expected 6 features per example, got input (2,7)");
}
