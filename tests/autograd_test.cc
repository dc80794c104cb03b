// The autograd (framework/autograd.h) on its own decisions: which blobs get gradients, which
// buffer each consumer writes, and what is left without. (That the gradients are right is the
// gradient checks' business: graph_test and the layer tests.)
#include <catch2/catch.hpp>

#include "framework/graph.h"
#include "tests/test_util.h"

using namespace obo;
using namespace obo::test;

namespace {

// c fans out to a ReLU and a max-pool (unfused, so that both read it); a loss and a metric read
// the score.
const char* const kFanOut = R"(
  layer { name: 'in' type: 'Input' output: 'x' output: 'label' input_param { shape { dim: 2 dim: 3 dim: 4 dim: 4 } shape { dim: 2 } } }
  layer { name: 'c' type: 'Conv1x1' input: 'x' output: 'c' conv { num_output: 4 } }
  layer { name: 'r' type: 'ReLU' input: 'c' output: 'r' }
  layer { name: 'p' type: 'MaxPool' input: 'c' output: 'p' pool { kernel_size: 1 stride: 1 } }
  layer { name: 'cat' type: 'Concat' input: 'r' input: 'p' output: 'cat' }
  layer { name: 'score' type: 'FC' input: 'cat' output: 'score' fc { num_output: 3 } }
  layer { name: 'loss' type: 'SoftmaxCrossEntropy' input: 'score' input: 'label' output: 'loss' }
  layer { name: 'accuracy' type: 'Accuracy' input: 'score' input: 'label' output: 'accuracy' })";

size_t index_of(const Graph& g, const std::string& layer) {
  for (size_t i = 0; i < g.num_layers(); ++i)
    if (g.layer(i).name() == layer) return i;
  FAIL("no layer " << layer);
  return 0;
}

TEST_CASE("the first consumer of a blob writes its gradient, each further one a partial of its own", "[autograd]") {
  Graph g(parse_net(kFanOut), GraphOptions::seeded(1).unfused());
  const Tensor* by_relu = g.inputs_of(index_of(g, "r"))[0].grad;
  const Tensor* by_pool = g.inputs_of(index_of(g, "p"))[0].grad;
  REQUIRE(by_relu);
  REQUIRE(by_pool);
  CHECK(by_relu == &g.grad("c"));  // the ReLU runs first, in file order
  CHECK(by_pool != by_relu);
  CHECK(g.outputs_of(index_of(g, "c"))[0].grad == &g.grad("c"));  // what the convolution's backward reads
  // The score's gradient comes from the loss alone: the metric sends none.
  CHECK(g.inputs_of(index_of(g, "loss"))[0].grad == &g.grad("score"));
  CHECK(g.inputs_of(index_of(g, "accuracy"))[0].grad == nullptr);
}

TEST_CASE("labels, metrics and Input blobs get no gradient, unless a gradient check asks for the inputs'", "[autograd]") {
  Graph trained(parse_net(kFanOut), GraphOptions::seeded(1));
  CHECK(trained.grad("label").empty());
  CHECK(trained.grad("accuracy").empty());
  CHECK(trained.grad("x").empty());
  CHECK(trained.inputs_of(index_of(trained, "c"))[0].grad == nullptr);
  CHECK(trained.seeds_gradient("loss"));
  CHECK_FALSE(trained.seeds_gradient("accuracy"));
  CHECK_FALSE(trained.seeds_gradient("score"));

  Graph checked(parse_net(kFanOut), GraphOptions::for_gradient_check(1));
  CHECK_FALSE(checked.grad("x").empty());
  CHECK(checked.inputs_of(index_of(checked, "c"))[0].grad == &checked.grad("x"));
  CHECK(checked.grad("label").empty());  // the loss does not propagate to its labels
}

TEST_CASE("a blob no layer reads gets a gradient for the caller to write, and only a loss's is seeded", "[autograd]") {
  Graph g(parse_net(std::string(kFanOut) + R"(
    layer { name: 'side' type: 'Conv1x1' input: 'x' output: 'side' conv { num_output: 2 } }
    layer { name: 'side_r' type: 'ReLU' input: 'side' output: 'side_r' })"),
          GraphOptions::seeded(1).unfused());
  CHECK_FALSE(g.grad("side_r").empty());
  CHECK_FALSE(g.seeds_gradient("side_r"));
  CHECK(g.inputs_of(index_of(g, "side_r"))[0].grad == &g.grad("side"));
  // The caller's gradient flows back into the side branch's weights.
  randomize_inputs(g, 2);
  std::fill(g.value("label").data(), g.value("label").data() + 2, 1.f);
  g.forward(Context::training(1, 0));
  std::fill(g.grad("side_r").data(), g.grad("side_r").data() + g.grad("side_r").size(), 1.f);
  g.backward();
  const Param* side_weight = nullptr;
  for (Param* p : g.params())
    if (p->name == "side.weight") side_weight = p;
  REQUIRE(side_weight);
  CHECK(std::any_of(side_weight->grad.data(), side_weight->grad.data() + side_weight->grad.count(), [](float v) { return v != 0; }));
}

}  // namespace
