// Add: a sum of blobs in different layouts, and each input's gradient the output's.
#include <catch2/catch.hpp>

#include "tests/gradient_check.h"
#include "tests/reference.h"
#include "tests/test_util.h"

using namespace obo;
using namespace obo::test;

TEST_CASE("Add sums blobs in any layouts, and its gradients check", "[add]") {
  // A residual join: x (plain) + a convolution of x (blocked) + x again through a second path.
  Graph g(parse_net(R"(
    layer { name: 'in' type: 'Input' output: 'x' input_param { shape { dim: 2 dim: 16 dim: 5 dim: 5 } } }
    layer { name: 'c' type: 'Conv3x3' input: 'x' output: 'c' conv { num_output: 16 } }
    layer { name: 'p' type: 'AvgPool' input: 'x' output: 'p' pool { kernel_size: 3 stride: 1 pad: 1 } }
    layer { name: 'sum' type: 'Add' input: 'c' input: 'x' input: 'p' output: 'y' })"),
          GraphOptions::for_gradient_check(1));
  randomize_inputs(g, 3);
  randomize_params(g, 4, 0.3f);
  g.forward(Context::evaluation());
  Array expected = to_array(g.value("c"));
  const Array x = to_array(g.value("x")), p = to_array(g.value("p"));
  for (size_t i = 0; i < expected.data.size(); ++i) expected.data[i] += x.data[i] + p.data[i];
  CHECK(max_relative_error(g.value("y"), expected) < 1e-6);
  const GradientReport report = check_gradients(g, {"y"});
  INFO(report.summary());
  CHECK(report.ok());
  CHECK_THROWS_WITH(Graph(parse_net(R"(
    layer { name: 'in' type: 'Input' output: 'x' output: 'z' input_param { shape { dim: 2 dim: 3 } shape { dim: 2 dim: 4 } } }
    layer { name: 'sum' type: 'Add' input: 'x' input: 'z' output: 'y' })")),
                    "layer 'sum' (Add): input 1 ('z') has shape (2,4), input 0 ('x') (2,3): added blobs must have one shape");
}
