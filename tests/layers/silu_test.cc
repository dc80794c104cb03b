// SiLU: x * sigmoid(x).
#include <cmath>

#include "tests/layers/elementwise.h"

TEST_CASE("SiLU computes x * sigmoid(x), and its gradients check", "[silu][activation]") {
  obo::test::check_elementwise("type: 'SiLU'", [](double x) { return x / (1 + std::exp(-x)); }, false);
}
