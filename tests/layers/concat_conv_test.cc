// An inference graph's 1x1 convolution that alone reads a concatenation absorbs it
// (fuse_concatenations) and convolves each part where it lies, adding into the output: the same
// values as the two layers, up to the order of the sums, with no join stored. Training graphs and
// wider kernels keep the Concat layer. (int8, where it joins the parts first: quantize_test.cc.)
#include <catch2/catch.hpp>

#include "tests/test_util.h"

using namespace obo;
using namespace obo::test;

namespace {

// x (2,16,7,9) -> branches of these channels (Conv3x3 + ReLU), or x itself for 0 -> Concat j ->
// the reader: a convolution of this kernel, 12 outputs, with or without bias and a fused ReLU.
onebyone::NetParameter reader_net(const std::vector<int>& channels, int kernel, bool bias, bool relu) {
  std::string text = "layer { name: 'in' type: 'Input' output: 'x' input_param { shape { dim: 2 dim: 16 dim: 7 dim: 9 } } }\n";
  std::string inputs;
  for (size_t i = 0; i < channels.size(); ++i) {
    if (channels[i] == 0) {
      inputs += " input: 'x'";
      continue;
    }
    text += fmt::format("layer {{ name: 'b{0}' type: 'Conv3x3' input: 'x' output: 'b{0}' conv {{ num_output: {1} }} }}\n"
                        "layer {{ name: 'r{0}' type: 'ReLU' input: 'b{0}' output: 'r{0}' }}\n",
                        i, channels[i]);
    inputs += fmt::format(" input: 'r{}'", i);
  }
  text += "layer { name: 'cat' type: 'Concat'" + inputs + " output: 'j' }\n";
  text += fmt::format("layer {{ name: 'conv' type: 'Conv' input: 'j' output: '{}' conv {{ num_output: 12 kernel_size: {} "
                      "pad: {} bias_term: {} }} }}\n",
                      relu ? "c" : "y", kernel, kernel / 2, bias ? "true" : "false");
  if (relu) text += "layer { name: 'relu' type: 'ReLU' input: 'c' output: 'y' }\n";
  return parse_net(text);
}

const Layer& layer_named(Graph& g, const std::string& name) {
  for (size_t i = 0; i < g.num_layers(); ++i)
    if (g.layer(i).name() == name) return g.layer(i);
  FAIL("no layer " << name);
  throw;
}

// The largest difference, as a share of the largest |value| of b.
double relative_difference(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  const Tensor pa = a.to_plain(), pb = b.to_plain();
  double largest = 0, d = 0;
  for (int64_t i = 0; i < pa.count(); ++i) {
    largest = std::max(largest, std::abs(static_cast<double>(pb.data()[i])));
    d = std::max(d, std::abs(static_cast<double>(pa.data()[i]) - pb.data()[i]));
  }
  return d / largest;
}

}  // namespace

TEST_CASE("an inference 1x1 convolution of a concatenation convolves the parts where they lie, as the two layers did",
          "[conv][concat][fusion]") {
  struct Case {
    const char* what;
    std::vector<int> channels;
    bool bias, relu;
  };
  const Case c = GENERATE(values<Case>({
      {"Inception's branches (16, 24, 8, 8), bias and ReLU", {16, 24, 8, 8}, true, true},
      {"the plain input beside a branch (x, 8), no bias", {0, 8}, false, false},
      {"one branch (5), no bias, ReLU", {5}, false, true},
  }));
  INFO(c.what << ", ISA " << onednn_isa());
  const onebyone::NetParameter net = reader_net(c.channels, 1, c.bias, c.relu);
  Graph fused(net, GraphOptions::inference()), separate(net, GraphOptions::inference().unfused());
  const Layer& conv = layer_named(fused, "conv");
  CHECK(conv.description() == std::string("Concat+Conv") + (c.relu ? "+ReLU" : ""));
  CHECK(conv.kernel() == "direct, a part at a time");
  CHECK_FALSE(fused.has_blob("j"));
  for (Graph* g : {&fused, &separate}) {
    randomize_inputs(*g, 1);
    randomize_params(*g, 2, 0.3f);
  }
  for (bool frozen : {false, true}) {
    INFO((frozen ? "weights frozen" : "weights read every pass"));
    if (frozen) {
      fused.freeze();
      separate.freeze();
    }
    fused.forward(Context::evaluation());
    separate.forward(Context::evaluation());
    CHECK(relative_difference(fused.value("y"), separate.value("y")) < 1e-5);
  }
}

TEST_CASE("a concatenation stays a layer before a training graph's convolution and before a 3x3 one",
          "[conv][concat][fusion]") {
  const bool training = GENERATE(true, false);
  INFO((training ? "training, 1x1" : "inference, 3x3"));
  const onebyone::NetParameter net = reader_net({16, 8}, training ? 1 : 3, true, true);
  Graph g(net, training ? GraphOptions::for_gradient_check(1) : GraphOptions::inference());
  CHECK(layer_named(g, "conv").description() == "Conv+ReLU");
  CHECK(layer_named(g, "cat").description() == "Concat");
  CHECK(g.has_blob("j"));
}
