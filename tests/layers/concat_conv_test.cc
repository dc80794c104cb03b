// A 1x1 convolution that reads a concatenation absorbs it (fuse_concatenations), alone or beside
// other readers that can, and convolves each part where it lies, adding into the output: the same
// values and gradients as the layers, up to the order of the sums, with no join stored; its
// gradients checked against numeric derivatives. Wider kernels keep the Concat layer. (int8,
// where it joins the parts first: quantize_test.cc.)
#include <catch2/catch.hpp>

#include "tests/gradient_check.h"
#include "tests/reference.h"
#include "tests/test_util.h"

using namespace obo;
using namespace obo::test;

namespace {

// The reader of a concatenation: a convolution of 12 outputs, with or without bias, and the
// element-wise layer after it that it fuses ("" for none).
struct Reader {
  int kernel = 1, stride = 1, pad = 0;
  bool bias = true;
  std::string then = "ReLU";
};

// x (2,16,7,9) -> branches of these channels (Conv3x3 + ReLU), x itself for 0, branch -c-1 again
// for a negative c -> Concat j -> the reader -> y.
onebyone::NetParameter reader_net(const std::vector<int>& channels, const Reader& r) {
  std::string text = "layer { name: 'in' type: 'Input' output: 'x' input_param { shape { dim: 2 dim: 16 dim: 7 dim: 9 } } }\n";
  std::string inputs;
  for (size_t i = 0; i < channels.size(); ++i) {
    if (channels[i] <= 0) {
      inputs += channels[i] == 0 ? std::string(" input: 'x'") : fmt::format(" input: 'r{}'", -channels[i] - 1);
      continue;
    }
    text += fmt::format("layer {{ name: 'b{0}' type: 'Conv3x3' input: 'x' output: 'b{0}' conv {{ num_output: {1} }} }}\n"
                        "layer {{ name: 'r{0}' type: 'ReLU' input: 'b{0}' output: 'r{0}' }}\n",
                        i, channels[i]);
    inputs += fmt::format(" input: 'r{}'", i);
  }
  text += "layer { name: 'cat' type: 'Concat'" + inputs + " output: 'j' }\n";
  text += fmt::format("layer {{ name: 'conv' type: 'Conv' input: 'j' output: '{}' conv {{ num_output: 12 kernel_size: {} "
                      "stride: {} pad: {} bias_term: {} }} }}\n",
                      r.then.empty() ? "y" : "c", r.kernel, r.stride, r.pad, r.bias ? "true" : "false");
  if (!r.then.empty()) text += fmt::format("layer {{ name: 'then' type: '{}' input: 'c' output: 'y' }}\n", r.then);
  return parse_net(text);
}

}  // namespace

TEST_CASE("a 1x1 convolution of a concatenation convolves the parts where they lie, as the two layers did",
          "[conv][concat][fusion]") {
  struct Case {
    const char* what;
    std::vector<int> channels;
    Reader reader;
  };
  const Case c = GENERATE(values<Case>({
      {"Inception's branches (16, 24, 8, 8), bias and ReLU", {16, 24, 8, 8}, {}},
      {"the plain input beside a branch (x, 8), no bias", {0, 8}, {1, 1, 0, false, ""}},
      {"one branch (5), no bias, ReLU", {5}, {1, 1, 0, false, "ReLU"}},
      {"one branch twice (8, 16, 8)", {8, 16, -1}, {}},
      {"ELU after it (its backward reads the output)", {16, 8}, {1, 1, 0, true, "ELU"}},
      {"stride 2 and padding 1", {8, 24}, {1, 2, 1, true, "ReLU"}},
  }));
  INFO(c.what << ", ISA " << onednn_isa());
  const onebyone::NetParameter net = reader_net(c.channels, c.reader);
  for (const GraphOptions& options : {GraphOptions::for_gradient_check(1), GraphOptions::inference()}) {
    INFO((options.training ? "training" : "inference"));
    Graph fused(net, options), separate(net, options.unfused());
    const Layer& conv = layer_named(fused, "conv");
    CHECK(conv.description() == "Concat+Conv" + (c.reader.then.empty() ? "" : "+" + c.reader.then));
    CHECK(conv.kernel() == "direct, a part at a time");
    CHECK_FALSE(fused.has_blob("j"));
    for (Graph* g : {&fused, &separate}) {
      randomize_inputs(*g, 1);
      randomize_params(*g, 2, 0.3f);
    }
    if (options.training) {
      fused.forward(Context::training(1, 0));
      separate.forward(Context::training(1, 0));
      CHECK(max_relative_error(fused.value("y"), to_array(separate.value("y"))) < 1e-5);
      // The same gradient of y into both: the same gradients of x and of every parameter.
      const Tensor dy = random_tensor(fused.value("y").shape(), 3);
      fused.grad("y").assign_plain(dy);
      separate.grad("y").assign_plain(dy);
      fused.backward();
      separate.backward();
      CHECK(max_relative_error(fused.grad("x"), to_array(separate.grad("x"))) < 1e-5);
      CHECK(max_relative_error(fused.param_grads(), to_array(separate.param_grads())) < 1e-5);
      continue;
    }
    for (int pass = 0; pass < 3; ++pass) {  // weights read every pass, frozen, then another batch
      INFO("pass " << pass);
      if (pass == 1) {
        fused.freeze();
        separate.freeze();
      }
      if (pass == 2) {
        for (Graph* g : {&fused, &separate}) {
          g->set_batch(3);
          randomize_inputs(*g, 4);
        }
      }
      fused.forward(Context::evaluation());
      separate.forward(Context::evaluation());
      CHECK(max_relative_error(fused.value("y"), to_array(separate.value("y"))) < 1e-5);
    }
  }
}

TEST_CASE("a 1x1 convolution of a concatenation matches the naive reference and its gradients check", "[conv][concat]") {
  // Three inputs, of 8, 5 and 16 channels (whole blocks, neither, and both widths of block).
  const onebyone::NetParameter net = parse_net(R"(
    layer { name: 'in' type: 'Input' output: 'x0' output: 'x1' output: 'x2'
            input_param { shape { dim: 3 dim: 8 dim: 5 dim: 6 } shape { dim: 3 dim: 5 dim: 5 dim: 6 } shape { dim: 3 dim: 16 dim: 5 dim: 6 } } }
    layer { name: 'cat' type: 'Concat' input: 'x0' input: 'x1' input: 'x2' output: 'j' }
    layer { name: 'conv' type: 'Conv1x1' input: 'j' output: 'y' conv { num_output: 7 } })");
  Graph g(net, GraphOptions::for_gradient_check(1));
  REQUIRE(layer_named(g, "conv").kernel() == "direct, a part at a time");
  randomize_inputs(g, 11);
  randomize_params(g, 12);
  g.forward(Context::evaluation());
  const Array x0 = to_array(g.value("x0")), x1 = to_array(g.value("x1")), x2 = to_array(g.value("x2"));
  const Array joined = concat_ref({&x0, &x1, &x2});
  const Array bias = to_array(g.params()[1]->value);
  const Array ref = conv_ref(joined, to_array(g.params()[0]->value), &bias, 1, 0);
  REQUIRE(g.value("y").shape() == ref.shape);
  CHECK(max_relative_error(g.value("y"), ref) < 1e-5);

  const GradientReport report = check_gradients(g, {"y"});
  INFO(report.summary());
  CHECK(report.ok());
  CHECK(report.kinks() == 0);
}

TEST_CASE("a concatenation that several layers read goes into each, with the values and gradients of the layers",
          "[conv][pool][concat][fusion]") {
  // x (2,16,7,9) -> branches -> Concat j -> a 1x1 convolution with bias and ReLU, one without
  // either, and a 3x3 max-pool of stride 1 (the readers of a second Inception block's input).
  const std::vector<int> channels = GENERATE(std::vector<int>{16, 24, 8, 8}, std::vector<int>{0, 16});
  INFO("parts " << fmt::format("{}", fmt::join(channels, ", ")) << ", ISA " << onednn_isa());
  onebyone::NetParameter net = reader_net(channels, {});
  net.MergeFrom(parse_net(R"(
    layer { name: 'conv2' type: 'Conv1x1' input: 'j' output: 'y2' conv { num_output: 6 bias_term: false } }
    layer { name: 'pool' type: 'MaxPool' input: 'j' output: 'y3' pool { kernel_size: 3 stride: 1 pad: 1 } })"));
  const std::vector<std::string> outputs{"y", "y2", "y3"};
  for (const GraphOptions& options : {GraphOptions::for_gradient_check(1), GraphOptions::inference()}) {
    INFO((options.training ? "training" : "inference"));
    Graph fused(net, options), separate(net, options.unfused());
    CHECK_FALSE(fused.has_blob("j"));
    for (const char* reader : {"conv", "conv2", "pool"}) CHECK(layer_named(fused, reader).concatenation());
    for (Graph* g : {&fused, &separate}) {
      randomize_inputs(*g, 1);
      randomize_params(*g, 2, 0.3f);
    }
    const Context context = options.training ? Context::training(1, 0) : Context::evaluation();
    fused.forward(context);
    separate.forward(context);
    for (const std::string& y : outputs) {
      INFO(y);
      CHECK(max_relative_error(fused.value(y), to_array(separate.value(y))) < 1e-5);
    }
    if (!options.training) continue;
    // The same gradients of the outputs into both: the parts' gradients are the readers' summed.
    for (size_t i = 0; i < outputs.size(); ++i) {
      const Tensor dy = random_tensor(fused.value(outputs[i]).shape(), 3 + i);
      fused.grad(outputs[i]).assign_plain(dy);
      separate.grad(outputs[i]).assign_plain(dy);
    }
    fused.backward();
    separate.backward();
    CHECK(max_relative_error(fused.grad("x"), to_array(separate.grad("x"))) < 1e-5);
    CHECK(max_relative_error(fused.param_grads(), to_array(separate.param_grads())) < 1e-5);
  }
}

TEST_CASE("a concatenation stays a layer before a 3x3 convolution", "[conv][concat][fusion]") {
  const bool training = GENERATE(true, false);
  INFO((training ? "training" : "inference"));
  const onebyone::NetParameter net = reader_net({16, 8}, {3, 1, 1, true, "ReLU"});
  Graph g(net, training ? GraphOptions::for_gradient_check(1) : GraphOptions::inference());
  CHECK(layer_named(g, "conv").description() == "Conv+ReLU");
  CHECK(layer_named(g, "cat").description() == "Concat");
  CHECK(g.has_blob("j"));
}
