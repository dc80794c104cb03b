// PReLU: a slope per channel, learned, against the naive reference and the gradient checker.
#include <catch2/catch.hpp>

#include "tests/gradient_check.h"
#include "tests/reference.h"
#include "tests/test_util.h"

using namespace obo;
using namespace obo::test;

TEST_CASE("PReLU applies a learned slope per channel, and its gradients check", "[prelu]") {
  const bool after_conv = GENERATE(false, true);  // a plain input, or a convolution's blocked output
  INFO((after_conv ? "after a convolution" : "on a plain input"));
  const std::string input = "layer { name: 'in' type: 'Input' output: 'x' input_param { shape { dim: 3 dim: 16 dim: 5 dim: 7 } } }\n";
  const std::string conv = "layer { name: 'c' type: 'Conv1x1' input: 'x' output: 'c' conv { num_output: 16 } }\n";
  Graph g(parse_net(input + (after_conv ? conv : "") + "layer { name: 'p' type: 'PReLU' input: '" +
                    (after_conv ? "c" : "x") + "' output: 'y' }"),
          GraphOptions::for_gradient_check(1));
  const Param& slope = *g.params().back();
  CHECK(slope.name == "p.slope");
  CHECK(slope.value.data()[0] == 0.25f);  // He et al.'s start
  randomize_inputs_clear_of_zero(g, 3);
  randomize_params(g, 4, 0.5f);
  if (after_conv) CHECK(place_biases_clear_of_zero(g, "c", *g.params()[1]) > 0.005);
  g.forward(Context::evaluation());
  const Array ref = prelu_ref(to_array(g.value(after_conv ? "c" : "x")), to_array(slope.value));
  CHECK(max_relative_error(g.value("y"), ref) < 1e-6);
  const GradientReport report = check_gradients(g, {"y"});
  INFO(report.summary());
  CHECK(report.ok());
  CHECK(report.kinks() == 0);
}
