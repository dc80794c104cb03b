// Softplus: log(1 + exp(x)).
#include <cmath>

#include "tests/layers/elementwise.h"

TEST_CASE("Softplus computes log(1 + exp(x)), and its gradients check", "[softplus][activation]") {
  obo::test::check_elementwise("type: 'Softplus'", [](double x) { return std::log1p(std::exp(x)); }, false);
}
