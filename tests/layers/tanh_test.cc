// Tanh: tanh(x); fused into a convolution.
#include <cmath>

#include "tests/layers/elementwise.h"

TEST_CASE("Tanh computes tanh(x), and its gradients check", "[tanh][activation]") {
  obo::test::check_elementwise("type: 'Tanh'", [](double x) { return std::tanh(x); }, true);
}
