// Flatten turns any layout into plain (N, C*H*W) in C,H,W order.
#include <catch2/catch.hpp>

#include <cstring>

#include "tests/gradient_check.h"
#include "tests/test_util.h"

using namespace obo;
using namespace obo::test;

TEST_CASE("Flatten gives the plain C,H,W order of a blocked input, and back", "[flatten]") {
  Graph g(parse_net(R"(
    layer { name: 'in' type: 'Input' output: 'x' input_param { shape { dim: 2 dim: 16 dim: 3 dim: 5 } } }
    layer { name: 'c' type: 'Conv1x1' input: 'x' output: 'c' conv { num_output: 24 } }
    layer { name: 'f' type: 'Flatten' input: 'c' output: 'y' })"),
          GraphOptions::for_gradient_check(1));
  randomize_inputs(g, 1);
  randomize_params(g, 2, 0.3f);
  g.forward(Context::evaluation());
  REQUIRE(g.value("y").shape() == Shape{2, 24 * 15});
  const Tensor c = g.value("c").to_plain();
  CHECK(std::memcmp(c.data(), g.value("y").data(), c.count() * sizeof(float)) == 0);
  const GradientReport report = check_gradients(g, {"y"});
  INFO(report.summary());
  CHECK(report.ok());
}
