// MaxPool, AvgPool and GlobalAvgPool against the naive reference, with gradients.
#include <catch2/catch.hpp>

#include "framework/fastest.h"
#include "tests/gradient_check.h"
#include "tests/reference.h"
#include "tests/test_util.h"

using namespace obo;
using namespace obo::test;

namespace {

struct PoolCase {
  const char* type;
  int64_t n, c, h, w;
  int kernel, stride, pad;
  bool include_pad;
};

std::ostream& operator<<(std::ostream& os, const PoolCase& k) {
  return os << k.type << " x(" << k.n << "," << k.c << "," << k.h << "," << k.w << ") k" << k.kernel << " s"
            << k.stride << " p" << k.pad << (k.include_pad ? " include-pad" : "");
}

// An identity 1x1 convolution (copy_channels sets it) before the max-pool: the pool reads the
// layout the convolution chose (blocked or NHWC) and sees its inputs unchanged.
onebyone::NetParameter conv_then_pool(const PoolCase& k) {
  return parse_net(fmt::format(R"(
      layer {{ name: 'in' type: 'Input' output: 'x' input_param {{ shape {{ dim: {} dim: {} dim: {} dim: {} }} }} }}
      layer {{ name: 'mix' type: 'Conv1x1' input: 'x' output: 'c' conv {{ num_output: {} }} }}
      layer {{ name: 'pool' type: 'MaxPool' input: 'c' output: 'y' pool {{ kernel_size: {} stride: {} pad: {} }} }} )",
                               k.n, k.c, k.h, k.w, k.c, k.kernel, k.stride, k.pad));
}

// Sets g's 1x1 convolutions (their weights, in order; biases stay 0) to copy the input's
// channels: the first convolution's outputs are channels 0.. of the input's `channels`, the
// next one's the channels after those, and so on.
void copy_channels(Graph& g, int64_t channels) {
  int64_t first = 0;
  for (Param* p : g.params()) {
    if (p->shape.size() != 4) continue;  // a bias
    Tensor copy(p->shape);
    for (int64_t o = 0; o < p->shape[0]; ++o) copy.data()[o * channels + first + o] = 1;
    p->value.assign_plain(copy);
    first += p->shape[0];
  }
}

// A training max-pool 'y' of the Input x, which reaches it unchanged through 1x1 convolutions
// that copy channels: its output against the naive reference, and x's gradient, which is the
// pool's backward through the copies. The convolutions' weight gradients are not judged: a step
// in one weight moves every pixel of a channel, by more than the inputs' spacing, and so changes
// which element is the maximum.
void check_max_pool_of_input(Graph& g, int kernel, int stride, int pad) {
  distinct_inputs(g, 5);
  g.forward(Context::training(1, 0));
  const Array ref = pool_ref(to_array(g.value("x")), PoolKind::kMax, kernel, kernel, stride, stride, pad);
  REQUIRE(g.value("y").shape() == ref.shape);
  CHECK(max_relative_error(g.value("y"), ref) == 0);
  GradientCheck check;
  check.step = 0.02;
  const GradientReport report = check_gradients(g, {"y"}, check);
  INFO(report.summary());
  const TensorCheck& x = report.tensors.front();
  REQUIRE(x.name == "x");
  CHECK(x.checked == g.value("x").count());
  CHECK(x.failures == 0);
  CHECK(x.kinks == 0);
}

}  // namespace

TEST_CASE("pooling matches the naive reference and its gradients check", "[pool]") {
  const PoolCase k = GENERATE(values<PoolCase>({
      {"MaxPool", 1, 3, 6, 6, 2, 2, 0, false},
      {"MaxPool", 7, 5, 7, 9, 3, 1, 1, false},
      {"MaxPool", 2, 16, 9, 11, 3, 2, 1, false},
      {"AvgPool", 1, 3, 7, 7, 2, 2, 0, false},
      {"AvgPool", 7, 4, 9, 9, 3, 2, 1, false},
      {"AvgPool", 2, 16, 5, 5, 3, 1, 1, true},
      {"GlobalAvgPool", 7, 17, 7, 7, 0, 0, 0, false},
      {"GlobalAvgPool", 1, 10, 3, 5, 0, 0, 0, false},
  }));
  INFO(k);
  const bool global = std::string(k.type) == "GlobalAvgPool";
  const std::string params = global ? "" : fmt::format("pool {{ kernel_size: {} stride: {} pad: {} count_include_pad: {} }}",
                                                       k.kernel, k.stride, k.pad, k.include_pad ? "true" : "false");
  Graph g(single_layer_net({{k.n, k.c, k.h, k.w}}, fmt::format("name: 'pool' type: '{}' input: 'x0' output: 'y' {}", k.type, params)),
          GraphOptions::for_gradient_check(1));
  const PoolKind kind = std::string(k.type) == "MaxPool" ? PoolKind::kMax
                        : k.include_pad                   ? PoolKind::kAvgIncludePad
                                                          : PoolKind::kAvgExcludePad;
  // A max-pool's inputs 0.05 apart: no tie for the checker's steps to straddle. Averages take
  // inputs of the size activations have, so that float rounding stays small.
  if (kind == PoolKind::kMax)
    distinct_inputs(g, 5);
  else
    randomize_inputs(g, 5);
  g.forward(Context::evaluation());
  const Array x = to_array(g.value("x0"));
  const Array ref = global ? pool_ref(x, kind, k.h, k.w, k.h, k.w, 0)
                           : pool_ref(x, kind, k.kernel, k.kernel, k.stride, k.stride, k.pad);
  REQUIRE(g.value("y").shape() == ref.shape);
  CHECK(max_relative_error(g.value("y"), ref) < 1e-5);
  // A max-pool selects: steps within half the inputs' spacing never change its choice.
  GradientCheck check;
  if (kind == PoolKind::kMax) check.step = 0.02;
  const GradientReport report = check_gradients(g, {"y"}, check);
  INFO(report.summary());
  CHECK(report.ok());
  CHECK(report.kinks() == 0);
}

TEST_CASE("a training max-pool on channel-blocked layouts runs our own loops, matches the naive reference and its gradients check",
          "[pool]") {
  // After a convolution the values are blocked (nChw8c, nChw16c) or NHWC, as oneDNN's training
  // kernels chose: the max-pool then runs ChannelBlockMaxPool. The 1x1 convolution is the
  // identity, so that the pool sees the checker's well-spaced inputs. Channel counts that fill
  // no whole block (5, 20), exact 2x2 tiling, overlapping windows with padding, and windows
  // that leave the last row and column of an odd map unread.
  const PoolCase k = GENERATE(values<PoolCase>({
      {"MaxPool", 2, 16, 8, 8, 2, 2, 0, false},
      {"MaxPool", 3, 20, 7, 9, 3, 1, 1, false},
      {"MaxPool", 2, 5, 9, 7, 3, 2, 1, false},
      {"MaxPool", 1, 32, 7, 7, 2, 2, 0, false},
  }));
  INFO(k << ", ISA " << onednn_isa());
  Graph g(conv_then_pool(k), GraphOptions::for_gradient_check(1));
  REQUIRE(g.layer(2).kernel() == "ours");
  copy_channels(g, k.c);
  check_max_pool_of_input(g, k.kernel, k.stride, k.pad);
}

TEST_CASE("a max-pool's gradient goes to the first of equal maxima, in our loops as in oneDNN's", "[pool]") {
  // Equal values in a window are common (the zeros a ReLU leaves). A zero input, so that every
  // window is a tie, through our loops (after a convolution: blocked) and oneDNN's (plain input):
  // each output's gradient goes to the first element of its window inside the input, in the
  // order rows then columns.
  const PoolCase k = GENERATE(values<PoolCase>({
      {"MaxPool", 2, 16, 8, 8, 2, 2, 0, false},
      {"MaxPool", 2, 16, 7, 7, 3, 2, 1, false},
  }));
  INFO(k << ", ISA " << onednn_isa());
  Graph ours(conv_then_pool(k), GraphOptions::for_gradient_check(1));
  Graph theirs(single_layer_net({{k.n, k.c, k.h, k.w}},
                                fmt::format("name: 'pool' type: 'MaxPool' input: 'x0' output: 'y' pool {{ kernel_size: {} stride: {} pad: {} }}",
                                            k.kernel, k.stride, k.pad)),
               GraphOptions::for_gradient_check(1));
  REQUIRE(ours.layer(2).kernel() == "ours");
  REQUIRE(theirs.layer(1).kernel() == "oneDNN");
  copy_channels(ours, k.c);
  const Shape y_shape = ours.value("y").shape();
  const Tensor dy = random_tensor(y_shape, 3);
  // The rule, written out: output (oh, ow)'s gradient to the first in-bounds (ih, iw).
  Tensor expected({k.n, k.c, k.h, k.w});
  for (int64_t n = 0; n < k.n; ++n)
    for (int64_t c = 0; c < k.c; ++c)
      for (int64_t oh = 0; oh < y_shape[2]; ++oh)
        for (int64_t ow = 0; ow < y_shape[3]; ++ow) {
          const int64_t ih = std::max<int64_t>(0, oh * k.stride - k.pad), iw = std::max<int64_t>(0, ow * k.stride - k.pad);
          expected.data()[((n * k.c + c) * k.h + ih) * k.w + iw] += dy.data()[((n * k.c + c) * y_shape[2] + oh) * y_shape[3] + ow];
        }
  for (auto [g, input] : {std::pair<Graph*, std::string>{&ours, "x"}, {&theirs, "x0"}}) {
    g->value(input).assign_plain(Tensor({k.n, k.c, k.h, k.w}));
    g->grad("y").assign_plain(dy);
    g->forward(Context::training(1, 0));
    g->backward();
    CHECK(max_relative_error(g->grad(input), to_array(expected)) == 0);
  }
}

TEST_CASE("an inference max-pool runs our loops or oneDNN's, whichever its first passes measure faster, and both match the reference",
          "[pool]") {
  // The nets above in inference graphs, at batch 3 (shapes no other test builds, so that the
  // first graph measures): passes 1 and 3 run oneDNN's kernel, 2 and 4 ours, and every pass must
  // equal the naive reference. A second graph of the same shapes starts decided. Where oneDNN's
  // inference convolution chose a layout ours does not take (20 and 5 channels on AVX-512, as
  // NHWC), oneDNN's kernel runs alone; 16 channels fit ours on every ISA (required below).
  const PoolCase k = GENERATE(values<PoolCase>({
      {"MaxPool", 3, 16, 8, 8, 2, 2, 0, false},
      {"MaxPool", 3, 20, 7, 9, 3, 1, 1, false},
      {"MaxPool", 3, 5, 9, 7, 3, 2, 1, false},
  }));
  INFO(k << ", ISA " << onednn_isa());
  const auto build = [&] {
    Graph g(conv_then_pool(k), GraphOptions::inference());
    copy_channels(g, k.c);
    distinct_inputs(g, 5);
    return g;
  };
  Graph first = build();
  const bool measures = first.layer(2).kernel() == "measuring";
  if (k.c == 16) REQUIRE(measures);
  if (!measures) REQUIRE(first.layer(2).kernel() == "oneDNN");
  const Array ref = pool_ref(to_array(first.value("x")), PoolKind::kMax, k.kernel, k.kernel, k.stride, k.stride, k.pad);
  for (size_t pass = 1; pass <= 2 * Fastest::kRounds; ++pass) {
    INFO("pass " << pass);
    if (measures) CHECK(first.layer(2).kernel() == "measuring");
    first.value("y").assign_plain(Tensor(ref.shape));  // no pass sees the one before's output
    first.forward(Context::evaluation());
    REQUIRE(first.value("y").shape() == ref.shape);
    CHECK(max_relative_error(first.value("y"), ref) == 0);
  }
  const std::string chosen = first.layer(2).kernel();
  CHECK_THAT(chosen, Catch::Equals("ours") || Catch::Equals("oneDNN"));
  Graph second = build();
  CHECK(second.layer(2).kernel() == chosen);
  second.forward(Context::evaluation());
  CHECK(max_relative_error(second.value("y"), ref) == 0);
}

TEST_CASE("pooling errors name the layer", "[pool][errors]") {
  CHECK_THROWS_WITH(Graph(single_layer_net({{1, 3, 6, 6}}, "name: 'p' type: 'MaxPool' input: 'x0' output: 'y' pool { kernel_size: 2 pad: 2 }")),
                    "layer 'p' (MaxPool): pad 2 is more than half the kernel 2");
  CHECK_THROWS_WITH(Graph(single_layer_net({{1, 3, 2, 2}}, "name: 'p' type: 'AvgPool' input: 'x0' output: 'y' pool { kernel_size: 3 }")),
                    "layer 'p' (AvgPool): a 3x3 window with pad 0 does not fit input (1,3,2,2)");
  CHECK_THROWS_WITH(Graph(single_layer_net({{1, 3, 2, 2}}, "name: 'g' type: 'GlobalAvgPool' input: 'x0' output: 'y' pool { kernel_size: 3 }")),
                    "layer 'g' (GlobalAvgPool): takes no pool parameters: its window is the whole input");
}

TEST_CASE("a max-pool of a concatenation's parts matches the naive reference and its gradients check", "[pool][concat][fusion]") {
  // Two 1x1 convolutions copy channels 0..15 and 16..39 of x (16-channel blocks, and 24 channels
  // that fill one and a half): the pool of their concatenation, which it absorbs, is the pool of x.
  const int k = GENERATE(2, 3);
  INFO("kernel " << k << ", ISA " << onednn_isa());
  Graph g(parse_net(fmt::format(R"(
      layer {{ name: 'in' type: 'Input' output: 'x' input_param {{ shape {{ dim: 2 dim: 40 dim: 8 dim: 8 }} }} }}
      layer {{ name: 'a' type: 'Conv1x1' input: 'x' output: 'a' conv {{ num_output: 16 bias_term: false }} }}
      layer {{ name: 'b' type: 'Conv1x1' input: 'x' output: 'b' conv {{ num_output: 24 bias_term: false }} }}
      layer {{ name: 'cat' type: 'Concat' input: 'a' input: 'b' output: 'j' }}
      layer {{ name: 'pool' type: 'MaxPool' input: 'j' output: 'y' pool {{ kernel_size: {} stride: 2 pad: {} }} }})",
                                k, k - 2)),
          GraphOptions::for_gradient_check(1));
  REQUIRE(g.layer(3).description() == "Concat+MaxPool");
  REQUIRE(g.layer(3).kernel() == "ours");  // the parts where they lie, not joined first
  copy_channels(g, 40);
  check_max_pool_of_input(g, k, 2, k - 2);
}
