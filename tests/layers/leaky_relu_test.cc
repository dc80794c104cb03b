// LeakyReLU: x > 0 ? x : negative_slope * x; fused into a convolution with its slope.
#include <cmath>

#include "tests/layers/elementwise.h"

TEST_CASE("LeakyReLU computes x > 0 ? x : negative_slope * x, and its gradients check", "[leaky_relu][activation]") {
  obo::test::check_elementwise("type: 'LeakyReLU' leaky_relu { negative_slope: 0.1 }", [](double x) { return x > 0 ? x : 0.1 * x; }, true);
}
