// The layer graph: ordering, shape inference, fan-out gradient sums, parameters in one buffer,
// whole-model gradient checks, and errors that name the layer and the shapes.
#include <catch2/catch.hpp>

#include "tests/gradient_check.h"
#include "tests/test_util.h"

using namespace obo;
using namespace obo::test;

TEST_CASE("a graph with fan-out and concatenation checks its gradients", "[graph]") {
  // x feeds three branches and the concat directly; 'a' feeds the concat and a second conv.
  Graph g(parse_net(R"(
    layer { name: 'in' type: 'Input' output: 'x' input_param { shape { dim: 2 dim: 8 dim: 6 dim: 6 } } }
    layer { name: 'a' type: 'Conv1x1' input: 'x' output: 'a' conv { num_output: 16 } }
    layer { name: 'b' type: 'Conv3x3' input: 'x' output: 'b' conv { num_output: 4 } }
    layer { name: 'p' type: 'AvgPool' input: 'x' output: 'p' pool { kernel_size: 3 stride: 1 pad: 1 } }
    layer { name: 'a2' type: 'Conv3x3' input: 'a' output: 'a2' conv { num_output: 8 } }
    layer { name: 'cat' type: 'Concat' input: 'a' input: 'b' input: 'p' input: 'a2' input: 'x' output: 'cat' }
    layer { name: 'head' type: 'Conv1x1' input: 'cat' output: 'y' conv { num_output: 5 } })"),
          {1, true});
  randomize_inputs(g, 1);
  randomize_params(g, 2, 0.3f);
  const GradientReport report = check_gradients(g, {"y"});
  INFO(report.worst_at);
  CHECK(report.ok());
}

TEST_CASE("layers run in dependency order whatever the file order", "[graph]") {
  GraphOptions unfused;
  unfused.fuse_relu = false;
  Graph g(parse_net(R"(
    layer { name: 'r' type: 'ReLU' input: 'c' output: 'y' }
    layer { name: 'c' type: 'Conv1x1' input: 'x' output: 'c' conv { num_output: 2 } }
    layer { name: 'in' type: 'Input' output: 'x' input_param { shape { dim: 1 dim: 3 dim: 4 dim: 4 } } })"),
          unfused);
  REQUIRE(g.num_layers() == 3);
  CHECK(g.layer(0).name() == "in");
  CHECK(g.layer(1).name() == "c");
  CHECK(g.layer(2).name() == "r");
}

TEST_CASE("parameters and gradients live in one buffer each, in layer order", "[graph]") {
  Graph g(read_net(model_path("nin")));
  int64_t offset = 0;
  for (Param* p : g.params()) {
    CHECK(p->value.data() == g.param_values().data() + offset);
    CHECK(p->grad.data() == g.param_grads().data() + offset);
    offset += count(p->shape);
  }
  CHECK(offset == g.param_values().count());
  CHECK(g.params().front()->name == "conv1.weight");
  CHECK(g.params().back()->name == "cccp6.bias");
}

TEST_CASE("shapes are inferred through the NIN and change with the batch", "[graph]") {
  Graph g(read_net(model_path("nin")));
  CHECK(g.value("pool1").shape() == Shape{128, 64, 14, 14});
  CHECK(g.value("cccp6").shape() == Shape{128, 10, 7, 7});
  CHECK(g.value("score").shape() == Shape{128, 10, 1, 1});
  g.set_batch(7);
  CHECK(g.batch() == 7);
  CHECK(g.value("pool2").shape() == Shape{7, 128, 7, 7});
  CHECK(g.value("label").shape() == Shape{7});
}

TEST_CASE("whole models check their gradients against a double-precision reference", "[graph][models]") {
  const std::string model = GENERATE("nin", "nin-fc", "inception", "inception-noreduce", "lenet");
  INFO(model);
  // The objective is a random weighting of the class scores: the loss is one float, too coarse
  // to difference through a whole net (the loss layer has its own check).
  onebyone::NetParameter net = read_net(model_path(model));
  auto* layers = net.mutable_layer();
  layers->erase(std::remove_if(layers->begin(), layers->end(),
                               [](const LayerParameter& l) { return l.type() == "SoftmaxCrossEntropy" || l.type() == "Accuracy"; }),
                layers->end());
  Graph g(net, {3, true});
  g.set_batch(1);
  randomize_inputs(g, 4);
  const ModelReport report = check_model_gradients(g, net, "score");
  INFO(report.worst_at << "; checked " << report.checked << ", kinks " << report.kinks << ", unchecked " << report.unchecked);
  CHECK(report.ok());
  CHECK(report.checked == static_cast<int>(g.params().size()) + 1);  // every parameter, and the images
}

TEST_CASE("the whole-model check fails a gradient 1% off", "[graph][models]") {
  onebyone::NetParameter net = read_net(model_path("inception"));
  net.mutable_layer()->DeleteSubrange(net.layer_size() - 2, 2);  // the loss and the accuracy
  Graph g(net, {3, true});
  g.set_batch(1);
  randomize_inputs(g, 4);
  ModelCheck wrong;
  wrong.inject = 1.01;
  const ModelReport report = check_model_gradients(g, net, "score", wrong);
  CHECK(report.failures == report.checked);
}

TEST_CASE("train and eval modes differ only through dropout", "[graph]") {
  Graph g(read_net(model_path("nin")));
  g.reshape({{"data", {2, 1, 28, 28}}, {"label", {2}}});
  randomize_inputs(g, 1);
  std::fill(g.value("label").data(), g.value("label").data() + 2, 1.f);
  g.forward({false, 1, 0});
  const Tensor eval1 = g.value("score").to_plain();
  g.forward({true, 1, 0});
  const Tensor train = g.value("score").to_plain();
  g.forward({false, 1, 5});
  const Tensor eval2 = g.value("score").to_plain();
  CHECK(std::equal(eval1.data(), eval1.data() + eval1.count(), eval2.data()));
  CHECK_FALSE(std::equal(eval1.data(), eval1.data() + eval1.count(), train.data()));
}

TEST_CASE("graph errors name the layer and what was expected", "[graph][errors]") {
  const std::string input = "layer { name: 'in' type: 'Input' output: 'x' input_param { shape { dim: 1 dim: 3 dim: 4 dim: 4 } } }\n";
  SECTION("a shape mismatch") {
    Graph g(parse_net(input + "layer { name: 'c' type: 'Conv3x3' input: 'x' output: 'y' conv { num_output: 2 } }"));
    CHECK_THROWS_WITH(g.reshape({{"x", {1, 5, 4, 4}}}), "layer 'c' (Conv3x3): expected input (N,3,H,W), got (1,5,4,4)");
  }
  SECTION("a missing input blob") {
    CHECK_THROWS_WITH(Graph(parse_net(input + "layer { name: 'r' type: 'ReLU' input: 'z' output: 'y' }")),
                      "layer 'r': input blob 'z' is not produced by any layer");
  }
  SECTION("a blob produced twice") {
    CHECK_THROWS_WITH(Graph(parse_net(input + "layer { name: 'r' type: 'ReLU' input: 'x' output: 'x' }")),
                      "layer 'r': output blob 'x' is already produced by layer 'in'");
  }
  SECTION("two layers with one name") {
    CHECK_THROWS_WITH(Graph(parse_net(input + "layer { name: 'in' type: 'ReLU' input: 'x' output: 'y' }")),
                      "two layers are named 'in'");
  }
  SECTION("a cycle") {
    CHECK_THROWS_WITH(Graph(parse_net(input + R"(
      layer { name: 'a' type: 'Concat' input: 'x' input: 'b' output: 'a' }
      layer { name: 'b' type: 'ReLU' input: 'a' output: 'b' })")),
                      "the layers a, b form a cycle: each waits for an input that another produces");
  }
  SECTION("an unknown type") {
    CHECK_THROWS_WITH(Graph(parse_net(input + "layer { name: 'c5' type: 'Conv5x5' input: 'x' output: 'y' }")),
                      Catch::StartsWith("layer 'c5': unknown layer type 'Conv5x5' (known: Accuracy, AvgPool, Concat, Conv,"));
  }
  SECTION("a wrong input count") {
    CHECK_THROWS_WITH(Graph(parse_net(input + "layer { name: 'r' type: 'ReLU' input: 'x' input: 'x' output: 'y' }")),
                      "layer 'r' (ReLU): expects 1 input(s), got 2");
  }
  SECTION("reshaping a blob that is not an input") {
    Graph g(parse_net(input + "layer { name: 'r' type: 'ReLU' input: 'x' output: 'y' }"));
    CHECK_THROWS_WITH(g.reshape({{"y", {1, 1, 1, 1}}}), "'y' is not an Input blob (inputs: x)");
  }
}

TEST_CASE("model files report parse errors with file, line and column", "[graph][errors]") {
  onebyone::NetParameter net;
  CHECK_THROWS_WITH(parse_text("layer {\n  name: 'a'\n  outputs: 'b'\n}", "bad.prototxt", &net),
                    Catch::StartsWith("bad.prototxt:3:") && Catch::Contains("no field named \"outputs\""));
}
