// ReLU on plain and on blocked (convolution output) layouts, alone and fused into a convolution.
#include <catch2/catch.hpp>

#include <algorithm>

#include "tests/gradient_check.h"
#include "tests/layers/elementwise.h"
#include "tests/test_util.h"

using namespace obo;
using namespace obo::test;

TEST_CASE("ReLU is max(0, x), and its gradients check, alone and after a convolution", "[relu][activation]") {
  check_elementwise("type: 'ReLU'", [](double x) { return std::max(0.0, x); }, true);
}

namespace {

const char* kConvRelu = R"(
    layer { name: 'in' type: 'Input' output: 'x' input_param { shape { dim: 2 dim: 16 dim: 6 dim: 6 } } }
    layer { name: 'c' type: 'Conv1x1' input: 'x' output: 'c' conv { num_output: 32 } }
    layer { name: 'r' type: 'ReLU' input: 'c' output: 'y' })";

}  // namespace

TEST_CASE("a ReLU fused into its convolution computes what the two layers do", "[relu][fusion]") {
  const GraphOptions unfused = GraphOptions::for_gradient_check(1).unfused();
  Graph separate(parse_net(kConvRelu), unfused), fused(parse_net(kConvRelu), GraphOptions::for_gradient_check(1));
  REQUIRE(fused.num_layers() == 2);  // the ReLU runs inside the convolution
  CHECK(fused.layer(1).description() == "Conv1x1+ReLU");
  CHECK(fused.has_blob("y"));
  for (Graph* g : {&separate, &fused}) {
    randomize_inputs(*g, 3);
    randomize_params(*g, 4, 0.3f);
    g->grad("y").assign_plain(random_tensor(g->value("y").shape(), 8));
    g->forward(Context::evaluation());
    g->backward();
  }
  const Tensor a = separate.value("y").to_plain(), b = fused.value("y").to_plain();
  CHECK(std::equal(a.data(), a.data() + a.count(), b.data()));
  const Tensor& ga = separate.param_grads();
  const Tensor& gb = fused.param_grads();
  for (int64_t i = 0; i < ga.count(); ++i) REQUIRE(ga.data()[i] == Approx(gb.data()[i]).margin(1e-5));
  GradientCheck small_step;
  small_step.step = 1e-3;
  const GradientReport report = check_gradients(fused, {"y"}, small_step);
  INFO(report.worst_at);
  CHECK(report.ok());
}
