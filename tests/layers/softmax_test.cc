// Softmax: probabilities over the channels, against the naive reference and the gradient checker.
#include <catch2/catch.hpp>

#include "tests/gradient_check.h"
#include "tests/reference.h"
#include "tests/test_util.h"

using namespace obo;
using namespace obo::test;

TEST_CASE("Softmax gives probabilities over the channels, and its gradients check", "[softmax]") {
  const Shape shape = GENERATE(Shape{5, 10}, Shape{3, 10, 1, 1}, Shape{2, 7, 3, 4});
  INFO(to_string(shape));
  Graph g(single_layer_net({shape}, "name: 's' type: 'Softmax' input: 'x0' output: 'y'"), GraphOptions::for_gradient_check(1));
  Tensor& x = g.value("x0");
  x.assign_plain(random_tensor(x.shape(), 3, -4.f, 4.f));
  g.forward(Context::evaluation());
  CHECK(max_relative_error(g.value("y"), softmax_ref(to_array(x))) < 1e-6);
  const GradientReport report = check_gradients(g, {"y"});
  INFO(report.summary());
  CHECK(report.ok());
}
