// ELU: x > 0 ? x : alpha * (exp(x) - 1); fused into a convolution with its alpha.
#include <cmath>

#include "tests/layers/elementwise.h"

TEST_CASE("ELU computes x > 0 ? x : alpha * (exp(x) - 1), and its gradients check", "[elu][activation]") {
  obo::test::check_elementwise("type: 'ELU' elu { alpha: 0.5 }", [](double x) { return x > 0 ? x : 0.5 * std::expm1(x); }, true);
}
