// Conv, Conv1x1, Conv3x3: oneDNN against the naive reference, gradients, the seed's worked
// example and its 50x600x600 -> 20 channel reduction, and configuration errors.
#include <catch2/catch.hpp>

#include "tests/gradient_check.h"
#include "tests/reference.h"
#include "tests/test_util.h"

using namespace obo;
using namespace obo::test;

namespace {

struct ConvCase {
  const char* type;
  int64_t n, c, h, w, o;
  int kernel, stride, pad;
  bool bias;
};

std::ostream& operator<<(std::ostream& os, const ConvCase& k) {
  return os << k.type << " x(" << k.n << "," << k.c << "," << k.h << "," << k.w << ") -> " << k.o
            << " k" << k.kernel << " s" << k.stride << " p" << k.pad << (k.bias ? " bias" : " nobias");
}

std::string layer_text(const ConvCase& k) {
  return fmt::format("name: 'conv' type: '{}' input: 'x0' output: 'y' conv {{ num_output: {} {} stride: {} pad: {} bias_term: {} }}",
                     k.type, k.o, std::string(k.type) == "Conv" ? fmt::format("kernel_size: {}", k.kernel) : "",
                     k.stride, k.pad, k.bias ? "true" : "false");
}

}  // namespace

TEST_CASE("convolution matches the naive reference and its gradients check", "[conv]") {
  const ConvCase k = GENERATE(values<ConvCase>({
      {"Conv1x1", 1, 3, 6, 6, 1, 1, 1, 0, true},
      {"Conv1x1", 7, 5, 7, 9, 4, 1, 1, 0, true},
      {"Conv1x1", 2, 16, 5, 5, 32, 1, 2, 0, false},
      {"Conv3x3", 1, 3, 5, 7, 8, 3, 1, 1, true},
      {"Conv3x3", 7, 16, 9, 9, 16, 3, 2, 1, true},
      {"Conv", 2, 4, 11, 13, 6, 5, 2, 2, false},
      {"Conv", 3, 17, 8, 7, 33, 3, 1, 0, true},
  }));
  INFO(k);
  Graph g(single_layer_net({{k.n, k.c, k.h, k.w}}, layer_text(k)), GraphOptions::for_gradient_check(1));
  randomize_inputs(g, 11);
  randomize_params(g, 12);
  g.forward(Context::evaluation());
  const auto& params = g.params();
  const Array bias = k.bias ? to_array(params[1]->value) : Array{};
  const Array ref = conv_ref(to_array(g.value("x0")), to_array(params[0]->value), k.bias ? &bias : nullptr,
                             k.stride, k.pad);
  REQUIRE(g.value("y").shape() == ref.shape);
  CHECK(max_relative_error(g.value("y"), ref) < 1e-5);

  const GradientReport report = check_gradients(g, {"y"});
  INFO(report.summary());
  CHECK(report.ok());
  CHECK(report.kinks() == 0);
}

TEST_CASE("a 3x3 convolution wide enough for Winograd matches the reference on oneDNN's Winograd kernel", "[conv][winograd]") {
  // 16 channels in and out: the layer asks oneDNN for Winograd in training. Whether oneDNN has a
  // kernel for it depends on the machine (AVX-512 for f32) and, where it has, on its heuristics:
  // oneDNN 2.6 takes Winograd from a batch of 16 (at a batch of 2 this machine ran direct).
  Graph g(single_layer_net({{16, 16, 5, 5}}, "name: 'conv' type: 'Conv3x3' input: 'x0' output: 'y' conv { num_output: 16 }"),
          GraphOptions::for_gradient_check(1));
  if (g.layer(1).kernel() != "winograd")
    SKIP_TEST("oneDNN runs this convolution's " << g.layer(1).kernel() << " kernel on this CPU (ISA " << onednn_isa()
                                                << "), not Winograd");
  randomize_inputs(g, 11);
  randomize_params(g, 12);
  g.forward(Context::evaluation());
  const Array bias = to_array(g.params()[1]->value);
  const Array ref = conv_ref(to_array(g.value("x0")), to_array(g.params()[0]->value), &bias, 1, 1);
  CHECK(max_relative_error(g.value("y"), ref) < 1e-5);
  // Winograd's transforms cost about a digit: its input gradients were 3e-4 of the largest off
  // a double reference here (the direct kernel's, 3e-5), which is 1e-3 of a gradient 3% of the
  // largest. The floor is 5%: below it, errors are measured against 5% of the largest.
  GradientCheck winograd;
  winograd.floor = 0.05;
  const GradientReport report = check_gradients(g, {"y"}, winograd);
  INFO(report.summary());
  CHECK(report.ok());
  CHECK(report.kinks() == 0);
  const int64_t typical = report.typical_element(0);
  CHECK_FALSE(report.planted(0.01, 0, typical).ok());  // still fails a typical input gradient 1% off
}

TEST_CASE("the seed's worked example: three 6x6 maps through a 1x1 convolution", "[conv][seed]") {
  // ../shared/seed/1x1-convolution.md, "Math view". The seed prints 0.6 at row 6, column 3;
  // 0.1*4 + 0.2*7 + 0.4*7 = 4.6.
  const float maps[3][6][6] = {
      {{1, 2, 3, 2, 2, 3}, {4, 5, 6, 2, 2, 3}, {2, 1, 7, 2, 1, 3}, {3, 2, 4, 2, 2, 3}, {3, 2, 4, 2, 2, 3}, {3, 2, 4, 2, 2, 3}},
      {{3, 2, 4, 3, 2, 2}, {3, 2, 4, 3, 2, 2}, {1, 2, 3, 3, 2, 2}, {4, 5, 6, 3, 2, 2}, {3, 2, 4, 3, 2, 2}, {2, 1, 7, 2, 1, 3}},
      {{1, 2, 3, 3, 2, 2}, {3, 2, 4, 3, 2, 2}, {3, 2, 4, 3, 2, 2}, {4, 5, 6, 3, 2, 2}, {3, 2, 4, 3, 2, 2}, {2, 1, 7, 2, 1, 3}}};
  const double expected[6][6] = {{1.1, 1.4, 2.3, 2.0, 1.4, 1.5}, {2.2, 1.7, 3.0, 2.0, 1.4, 1.5},
                                 {1.6, 1.3, 2.9, 2.0, 1.3, 1.5}, {2.7, 3.2, 4.0, 2.0, 1.4, 1.5},
                                 {2.1, 1.4, 2.8, 2.0, 1.4, 1.5}, {1.5, 0.8, 4.6, 1.4, 0.8, 2.1}};
  Graph g(single_layer_net({{1, 3, 6, 6}}, "name: 'mix' type: 'Conv1x1' input: 'x0' output: 'y' conv { num_output: 1 bias_term: false }"));
  Tensor x({1, 3, 6, 6});
  std::copy(&maps[0][0][0], &maps[0][0][0] + 108, x.data());
  g.value("x0").assign_plain(x);
  const float weights[3] = {0.1f, 0.2f, 0.4f};
  std::copy(weights, weights + 3, g.params()[0]->value.data());
  g.forward(Context::evaluation());
  const Tensor y = g.value("y").to_plain();
  REQUIRE(y.shape() == Shape{1, 1, 6, 6});
  for (int i = 0; i < 6; ++i)
    for (int j = 0; j < 6; ++j) {
      INFO("T[" << i << "," << j << "]");
      CHECK(y.data()[i * 6 + j] == Approx(expected[i][j]).margin(1e-6));
    }
}

TEST_CASE("the seed's reduction: 50x600x600 to 20 channels by a 1x1 convolution", "[conv][seed]") {
  Graph g(single_layer_net({{1, 50, 600, 600}}, "name: 'reduce' type: 'Conv1x1' input: 'x0' output: 'y' conv { num_output: 20 }"));
  CHECK(g.value("y").shape() == Shape{1, 20, 600, 600});
  REQUIRE(g.params().size() == 2);
  CHECK(count(g.params()[0]->shape) == 1000);  // 50 * 20 weights
  CHECK(count(g.params()[1]->shape) == 20);    // one bias per output channel
  CHECK(g.multiply_adds(1) == int64_t{50} * 20 * 600 * 600);
}

TEST_CASE("convolution configuration errors name the layer", "[conv][errors]") {
  CHECK_THROWS_WITH(Graph(single_layer_net({{1, 3, 6, 6}}, "name: 'c' type: 'Conv1x1' input: 'x0' output: 'y' conv { num_output: 4 kernel_size: 3 }")),
                    "layer 'c' (Conv1x1): kernel_size is fixed at 1 for this type, got 3");
  CHECK_THROWS_WITH(Graph(single_layer_net({{1, 3, 6, 6}}, "name: 'c' type: 'Conv3x3' input: 'x0' output: 'y' conv { }")),
                    "layer 'c' (Conv3x3): conv.num_output must be positive, got 0");
  CHECK_THROWS_WITH(Graph(single_layer_net({{1, 3, 2, 2}}, "name: 'c' type: 'Conv' input: 'x0' output: 'y' conv { num_output: 1 kernel_size: 5 }")),
                    "layer 'c' (Conv): a 5x5 kernel with pad 0 does not fit input (1,3,2,2)");
  CHECK_THROWS_WITH(Graph(single_layer_net({{1, 3, 6}}, "name: 'c' type: 'Conv3x3' input: 'x0' output: 'y' conv { num_output: 1 }")),
                    "layer 'c' (Conv3x3): needs an (N,C,H,W) input, got (1,3,6)");
}
