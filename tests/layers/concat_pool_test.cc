// A max-pool that alone reads a concatenation absorbs it (fuse_concatenations) and pools the
// parts where they lie: the same values and gradients as the two layers, with no join stored.
// (Against the naive reference, with its gradient checked: pool_test.cc.)
#include <catch2/catch.hpp>

#include "tests/test_util.h"

using namespace obo;
using namespace obo::test;

namespace {

struct Branches {
  const char* what;
  std::vector<int> channels;  // of each branch: a convolution of x, or 0 for x itself
  int kernel, stride, pad;
  bool joins;  // whether the pool must join the parts first (our loops cannot read them)
};

std::ostream& operator<<(std::ostream& os, const Branches& b) { return os << b.what; }

// x (2,16,7,9) -> a branch per entry (Conv3x3 or Conv1x1 alternately, with a ReLU) -> Concat j ->
// MaxPool y. A branch of 0 channels is x itself; a negative one repeats branch -c-1.
onebyone::NetParameter branches_net(const Branches& b) {
  std::string text = "layer { name: 'in' type: 'Input' output: 'x' input_param { shape { dim: 2 dim: 16 dim: 7 dim: 9 } } }\n";
  std::string inputs;
  for (size_t i = 0; i < b.channels.size(); ++i) {
    const int c = b.channels[i];
    if (c == 0) {
      inputs += " input: 'x'";
      continue;
    }
    if (c < 0) {
      inputs += fmt::format(" input: 'r{}'", -c - 1);
      continue;
    }
    text += fmt::format("layer {{ name: 'b{0}' type: '{1}' input: 'x' output: 'b{0}' conv {{ num_output: {2} }} }}\n"
                        "layer {{ name: 'r{0}' type: 'ReLU' input: 'b{0}' output: 'r{0}' }}\n",
                        i, i % 2 ? "Conv1x1" : "Conv3x3", c);
    inputs += fmt::format(" input: 'r{}'", i);
  }
  text += "layer { name: 'cat' type: 'Concat'" + inputs + " output: 'j' }\n";
  text += fmt::format("layer {{ name: 'pool' type: 'MaxPool' input: 'j' output: 'y' pool {{ kernel_size: {} stride: {} pad: {} }} }}\n",
                      b.kernel, b.stride, b.pad);
  return parse_net(text);
}

double largest_difference(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  const Tensor pa = a.to_plain(), pb = b.to_plain();
  double d = 0;
  for (int64_t i = 0; i < pa.count(); ++i) d = std::max(d, std::abs(static_cast<double>(pa.data()[i]) - pb.data()[i]));
  return d;
}

}  // namespace

TEST_CASE("a max-pool that alone reads a concatenation pools the parts where they lie, as the two layers did",
          "[pool][concat][fusion]") {
  const Branches b = GENERATE(values<Branches>({
      {"Inception's branches (16, 24, 8, 8), 2x2 stride 2", {16, 24, 8, 8}, 2, 2, 0, false},
      {"overlapping windows with padding (8, 16)", {8, 16}, 3, 1, 1, false},
      {"one branch twice (8, 16, 8)", {8, 16, -1}, 3, 2, 1, false},
      {"channels that are not whole groups of eight (5, 3)", {5, 3}, 2, 2, 0, true},
      {"the plain input beside a branch (x, 8)", {0, 8}, 3, 2, 1, true},
  }));
  INFO(b << ", ISA " << onednn_isa());
  const onebyone::NetParameter net = branches_net(b);
  for (const GraphOptions& options : {GraphOptions::for_gradient_check(1), GraphOptions::inference()}) {
    INFO((options.training ? "training" : "inference"));
    Graph fused(net, options), separate(net, options.unfused());
    const Layer& pool = layer_named(fused, "pool");
    CHECK(pool.description() == "Concat+MaxPool");
    CHECK_FALSE(fused.has_blob("j"));
    CHECK(separate.has_blob("j"));
    for (Graph* g : {&fused, &separate}) {
      randomize_inputs(*g, 1);
      randomize_params(*g, 2, 0.3f);
    }
    const Context context = options.training ? Context::training(1, 0) : Context::evaluation();
    // An inference pool chooses our loops or oneDNN's by timing its first passes; every pass
    // must give the same values.
    for (int pass = 0; pass < (options.training ? 1 : 5); ++pass) {
      fused.forward(context);
      separate.forward(context);
      CHECK(largest_difference(fused.value("y"), separate.value("y")) == 0);
    }
    CHECK((pool.kernel().find("joined first") != std::string::npos) == b.joins);
    if (!options.training) continue;
    // The same gradient of y into both: the same gradients of x and of every parameter.
    const Tensor dy = random_tensor(fused.value("y").shape(), 3);
    fused.grad("y").assign_plain(dy);
    separate.grad("y").assign_plain(dy);
    fused.backward();
    separate.backward();
    CHECK(largest_difference(fused.grad("x"), separate.grad("x")) == 0);
    CHECK(largest_difference(fused.param_grads(), separate.param_grads()) == 0);
  }
}
