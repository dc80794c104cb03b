// ReLU on plain and on blocked (convolution output) layouts, alone and fused into a convolution.
#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include "layers/relu_mask.h"
#include "tests/gradient_check.h"
#include "tests/layers/elementwise.h"
#include "tests/test_util.h"

using namespace obo;
using namespace obo::test;

TEST_CASE("ReLU is max(0, x), and its gradients check, alone and after a convolution", "[relu][activation]") {
  check_elementwise("type: 'ReLU'", [](double x) { return std::max(0.0, x); }, true);
}

namespace {

// Element by element, to within `margin` (and Approx's default relative 1e-5): what a fused graph
// must give of what separate layers do. Not bit for bit: oneDNN may run another kernel for a
// convolution with a post-op than for one without, and sum in another order.
void require_close(const Tensor& a, const Tensor& b, double margin) {
  const Tensor pa = a.to_plain(), pb = b.to_plain();
  REQUIRE(pa.count() == pb.count());
  for (int64_t i = 0; i < pa.count(); ++i) REQUIRE(pa.data()[i] == Approx(pb.data()[i]).margin(margin));
}

// The same inputs and parameters in both graphs, the convolution's biases placed so that no
// output lies near the ReLU's kink (place_biases_clear_of_zero).
void prepare(Graph& separate, Graph& fused) {
  randomize_inputs(separate, 3);
  randomize_params(separate, 4, 0.3f);
  CHECK(place_biases_clear_of_zero(separate, "c", *separate.params()[1]) > 0.005);
  fused.value("x").assign_plain(separate.value("x"));
  fused.param_values().assign_plain(separate.param_values());
}

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
  prepare(separate, fused);
  for (Graph* g : {&separate, &fused}) {
    g->grad("y").assign_plain(random_tensor(g->value("y").shape(), 8));
    g->forward(Context::evaluation());
    g->backward();
  }
  require_close(separate.value("y"), fused.value("y"), 1e-6);
  require_close(separate.param_grads(), fused.param_grads(), 1e-5);
  const GradientReport report = check_gradients(fused, {"y"});
  INFO(report.summary());
  CHECK(report.ok());
  CHECK(report.kinks() == 0);
}

namespace {

// A ReLU between a convolution and a max-pool: fused, the convolution keeps the ReLU's derivative
// as bits and its output lives only until the max-pool has run.
std::string conv_relu_pool(const std::string& activation) {
  return R"(
    layer { name: 'in' type: 'Input' output: 'x' input_param { shape { dim: 2 dim: 8 dim: 6 dim: 6 } } }
    layer { name: 'c' type: 'Conv3x3' input: 'x' output: 'c' conv { num_output: 16 } }
    layer { name: 'r' )" + activation + R"( input: 'c' output: 'r' }
    layer { name: 'p' type: 'MaxPool' input: 'r' output: 'y' pool { kernel_size: 2 } })";
}

}  // namespace

TEST_CASE("a fused ReLU that feeds a max-pool keeps its derivative as bits, with the same gradients", "[relu][fusion][memory]") {
  const std::string activation = GENERATE(std::string("type: 'ReLU'"),
                                          std::string("type: 'LeakyReLU' leaky_relu { negative_slope: 0.1 }"));
  INFO(activation);
  const onebyone::NetParameter net = parse_net(conv_relu_pool(activation));
  Graph separate(net, GraphOptions::for_gradient_check(1).unfused()), fused(net, GraphOptions::for_gradient_check(1));
  REQUIRE(fused.num_layers() == 3);
  CHECK_FALSE(fused.layer(1).backward_reads_output(0));  // bits, not the output
  CHECK(separate.layer(1).backward_reads_input(0));
  prepare(separate, fused);
  for (Graph* g : {&separate, &fused}) {
    g->grad("y").assign_plain(random_tensor(g->value("y").shape(), 8));
    g->forward(Context::training(1, 0));
    g->backward();
  }
  require_close(separate.value("y"), fused.value("y"), 1e-6);
  require_close(separate.param_grads(), fused.param_grads(), 1e-5);
  require_close(separate.grad("x"), fused.grad("x"), 1e-5);
  const GradientReport report = check_gradients(fused, {"y"});
  INFO(report.summary());
  CHECK(report.ok());
  CHECK(report.kinks() == 0);
}

TEST_CASE("a ReLU mask of bits gives each gradient 1 or the slope, whatever the length", "[relu][memory]") {
  const float alpha = GENERATE(0.f, 0.25f);
  const size_t n = GENERATE(1, 8, 21, 64);  // whole bytes and a partial last one
  std::vector<float> y(n), dy(n, 2.f);
  for (size_t i = 0; i < n; ++i) y[i] = (i % 3 == 0) ? 0.f : ((i * 7) % 5 < 2 ? -1.f - i : 0.5f + i);
  ReluMask mask;
  mask.init(n, alpha);
  mask.record(y.data());
  mask.apply(dy.data());
  for (size_t i = 0; i < n; ++i) {
    INFO("element " << i << " of " << n << ", y = " << y[i]);
    CHECK(dy[i] == (y[i] > 0 ? 2.f : 2.f * alpha));
  }
}
