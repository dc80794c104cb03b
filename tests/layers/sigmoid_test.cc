// Sigmoid: 1 / (1 + exp(-x)); fused into a convolution.
#include <cmath>

#include "tests/layers/elementwise.h"

TEST_CASE("Sigmoid computes 1 / (1 + exp(-x)), and its gradients check", "[sigmoid][activation]") {
  obo::test::check_elementwise("type: 'Sigmoid'", [](double x) { return 1 / (1 + std::exp(-x)); }, true);
}
