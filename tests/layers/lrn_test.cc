// LRN across channels, against the naive reference and the gradient checker.
#include <catch2/catch.hpp>

#include "tests/gradient_check.h"
#include "tests/reference.h"
#include "tests/test_util.h"

using namespace obo;
using namespace obo::test;

TEST_CASE("LRN normalises across neighbouring channels, and its gradients check", "[lrn]") {
  const int size = GENERATE(3, 5);
  INFO("local_size " << size);
  Graph g(single_layer_net({{2, 7, 4, 5}}, fmt::format("name: 'n' type: 'LRN' input: 'x0' output: 'y' lrn {{ local_size: {} "
                                                        "alpha: 0.5 beta: 0.75 k: 2 }}",
                                                        size)),
          GraphOptions::for_gradient_check(1));
  Tensor& x = g.value("x0");
  x.assign_plain(random_tensor(x.shape(), 3, -2.f, 2.f));
  g.forward(Context::evaluation());
  CHECK(max_relative_error(g.value("y"), lrn_ref(to_array(x), size, 0.5, 0.75, 2)) < 1e-5);
  const GradientReport report = check_gradients(g, {"y"});
  INFO(report.summary());
  CHECK(report.ok());
  CHECK_THROWS_WITH(Graph(single_layer_net({{1, 3, 2, 2}}, "name: 'n' type: 'LRN' input: 'x0' output: 'y' lrn { local_size: 4 }")),
                    "layer 'n' (LRN): lrn.local_size must be odd and positive, got 4");
}
