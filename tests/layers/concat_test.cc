// Concat along channels of inputs in different layouts, including one blob given twice.
#include <catch2/catch.hpp>

#include "tests/gradient_check.h"
#include "tests/test_util.h"

using namespace obo;
using namespace obo::test;

TEST_CASE("Concat stacks channels in input order and splits the gradient back", "[concat]") {
  Graph g(parse_net(R"(
    layer { name: 'in' type: 'Input' output: 'x' input_param { shape { dim: 2 dim: 16 dim: 5 dim: 5 } } }
    layer { name: 'a' type: 'Conv1x1' input: 'x' output: 'a' conv { num_output: 24 } }
    layer { name: 'b' type: 'Conv3x3' input: 'x' output: 'b' conv { num_output: 8 } }
    layer { name: 'cat' type: 'Concat' input: 'a' input: 'x' input: 'b' input: 'a' output: 'y' })"),
          GraphOptions::for_gradient_check(1));
  randomize_inputs(g, 1);
  randomize_params(g, 2, 0.3f);
  g.forward(Context::evaluation());
  const Tensor y = g.value("y").to_plain();
  REQUIRE(y.shape() == Shape{2, 72, 5, 5});
  const Tensor parts[] = {g.value("a").to_plain(), g.value("x").to_plain(), g.value("b").to_plain(), g.value("a").to_plain()};
  for (int64_t n = 0; n < 2; ++n) {
    int64_t channel = 0;
    for (const Tensor& part : parts) {
      const int64_t c = part.dim(1);
      for (int64_t i = 0; i < c * 25; ++i)
        REQUIRE(y.data()[(n * 72 + channel) * 25 + i] == part.data()[n * c * 25 + i]);
      channel += c;
    }
  }
  const GradientReport report = check_gradients(g, {"y"});
  INFO(report.summary());
  CHECK(report.ok());
}

TEST_CASE("Concat names the input whose shape does not match", "[concat][errors]") {
  CHECK_THROWS_WITH(Graph(single_layer_net({{2, 3, 5, 5}, {2, 4, 5, 6}}, "name: 'cat' type: 'Concat' input: 'x0' input: 'x1' output: 'y'")),
                    "layer 'cat' (Concat): input 1 ('x1') has shape (2,4,5,6), expected (2,C,5,5) like input 0");
}
