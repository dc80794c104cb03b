// Each pass of framework/passes.h and framework/inference.h on its own: what it removes, what the removed outputs' names
// name afterwards, and what it must leave alone. (That the passes together keep what a trained net
// computes is graph_test's "an inference graph gives the training graph's evaluation".)
#include <catch2/catch.hpp>

#include "framework/inference.h"
#include "framework/passes.h"
#include "tests/reference.h"
#include "tests/test_util.h"

using namespace obo;
using namespace obo::test;

namespace {

const char* const kInput = "layer { name: 'in' type: 'Input' output: 'x' input_param { shape { dim: 2 dim: 3 dim: 4 dim: 4 } } }\n";

ir::Net connected(const std::string& layers, bool inference = true) {
  return ir::connect(parse_net(kInput + layers), inference);
}

std::vector<std::string> layer_names(const ir::Net& net) {
  std::vector<std::string> names;
  for (const ir::Node& n : net.nodes) names.push_back(n.layer->name());
  return names;
}

std::vector<std::string> inputs_of(const ir::Net& net, const std::string& layer) {
  std::vector<std::string> names;
  for (const ir::Node& n : net.nodes)
    if (n.layer->name() == layer)
      for (const ir::Blob* b : n.inputs) names.push_back(b->name);
  return names;
}

// What the layer absorbed (null: none, or no such layer).
const Layer* concatenation_in(const ir::Net& net, const std::string& layer) {
  for (const ir::Node& n : net.nodes)
    if (n.layer->name() == layer) return n.layer->concatenation();
  return nullptr;
}

// A checkpoint of the net, its BatchNorms' running statistics far from their initial 0 and 1.
onebyone::Checkpoint trained_batch_norms(const onebyone::NetParameter& net) {
  Graph g(net, GraphOptions::seeded(1));
  randomize_params(g, 2, 0.5f);
  for (Buffer* b : g.buffers())
    for (int64_t i = 0; i < b->value.count(); ++i)
      b->value.data()[i] = b->name.find("var") != std::string::npos ? 0.5f + uniform(3, i, 0) : uniform(4, i, 0) - 0.5f;
  onebyone::Checkpoint c;
  *c.mutable_net() = net;
  store_params(g, &c);
  return c;
}

TEST_CASE("drop_identities: Dropout goes, its readers read its input, and its name names that input", "[passes]") {
  ir::Net net = connected(R"(
    layer { name: 'c' type: 'Conv1x1' input: 'x' output: 'c' conv { num_output: 4 } }
    layer { name: 'd1' type: 'Dropout' input: 'c' output: 'd1' }
    layer { name: 'd2' type: 'Dropout' input: 'd1' output: 'd2' }
    layer { name: 'f' type: 'FC' input: 'd2' output: 'f' fc { num_output: 3 } }
    layer { name: 'd3' type: 'Dropout' input: 'f' output: 'out' })");
  drop_identities(net);
  CHECK(layer_names(net) == std::vector<std::string>{"in", "c", "f"});
  CHECK(inputs_of(net, "f") == std::vector<std::string>{"c"});
  CHECK(net.aliases == std::map<std::string, std::string>{{"d1", "c"}, {"d2", "c"}, {"out", "f"}});
  CHECK(net.blobs.count("d1") == 0);
  CHECK(net.blobs.at("c")->consumed);
  CHECK_FALSE(net.blobs.at("f")->consumed);  // nothing reads it now: the graph keeps its value
}

TEST_CASE("fuse_post_ops: a ReLU that alone reads a convolution's output runs inside it, once", "[passes][fusion]") {
  ir::Net net = connected(R"(
    layer { name: 'c' type: 'Conv3x3' input: 'x' output: 'c' conv { num_output: 4 } }
    layer { name: 'r1' type: 'ReLU' input: 'c' output: 'r1' }
    layer { name: 'r2' type: 'ReLU' input: 'r1' output: 'r2' })");
  fuse_post_ops(net);
  // r2 reads what c now computes, and c has its post-op already.
  CHECK(layer_names(net) == std::vector<std::string>{"in", "c", "r2"});
  CHECK(net.nodes[1].layer->description() == "Conv3x3+ReLU");
  CHECK(net.aliases == std::map<std::string, std::string>{{"r1", "c"}});
  CHECK(inputs_of(net, "r2") == std::vector<std::string>{"c"});
}

TEST_CASE("fuse_post_ops leaves a ReLU whose input has another reader, or a producer that takes no post-op", "[passes][fusion]") {
  ir::Net net = connected(R"(
    layer { name: 'c' type: 'Conv1x1' input: 'x' output: 'c' conv { num_output: 4 } }
    layer { name: 'r' type: 'ReLU' input: 'c' output: 'r' }
    layer { name: 'p' type: 'MaxPool' input: 'c' output: 'p' }
    layer { name: 'pr' type: 'ReLU' input: 'p' output: 'pr' })");
  fuse_post_ops(net);
  CHECK(layer_names(net) == std::vector<std::string>{"in", "c", "r", "p", "pr"});
  CHECK(net.aliases.empty());
  for (const ir::Node& n : net.nodes) CHECK_FALSE(n.layer->post_op());
}

TEST_CASE("fuse_concatenations: a Concat that alone feeds a max-pool goes into it, and its output names nothing", "[passes][fusion]") {
  ir::Net net = connected(R"(
    layer { name: 'a' type: 'Conv1x1' input: 'x' output: 'a' conv { num_output: 8 } }
    layer { name: 'b' type: 'Conv3x3' input: 'x' output: 'b' conv { num_output: 8 } }
    layer { name: 'cat' type: 'Concat' input: 'a' input: 'x' input: 'b' output: 'j' }
    layer { name: 'd' type: 'Dropout' input: 'j' output: 'jd' }
    layer { name: 'p' type: 'MaxPool' input: 'jd' output: 'p' pool { kernel_size: 2 } })");
  drop_identities(net);
  fuse_concatenations(net, false);
  CHECK(layer_names(net) == std::vector<std::string>{"in", "a", "b", "p"});
  CHECK(inputs_of(net, "p") == std::vector<std::string>{"a", "x", "b"});
  CHECK(net.nodes[3].layer->description() == "Concat+MaxPool");
  CHECK(net.nodes[3].layer->concatenation()->name() == "cat");
  CHECK(net.blobs.count("j") == 0);
  CHECK(net.aliases.empty());  // the Dropout's output named the join, which is gone
}

TEST_CASE("fuse_concatenations leaves a Concat that a layer reads which cannot read the parts", "[passes][fusion]") {
  ir::Net net = connected(R"(
    layer { name: 'a' type: 'Conv1x1' input: 'x' output: 'a' conv { num_output: 8 } }
    layer { name: 'cat1' type: 'Concat' input: 'a' input: 'x' output: 'j1' }
    layer { name: 'p1' type: 'MaxPool' input: 'j1' output: 'p1' pool { kernel_size: 2 } }
    layer { name: 'r1' type: 'ReLU' input: 'j1' output: 'r1' }
    layer { name: 'cat2' type: 'Concat' input: 'a' input: 'x' output: 'j2' }
    layer { name: 'p2' type: 'AvgPool' input: 'j2' output: 'p2' pool { kernel_size: 2 } }
    layer { name: 'cat3' type: 'Concat' input: 'a' input: 'x' output: 'j3' }
    layer { name: 'cat4' type: 'Concat' input: 'j3' input: 'x' output: 'j4' })");
  fuse_concatenations(net, true);
  CHECK(layer_names(net) == std::vector<std::string>{"in", "a", "cat1", "p1", "r1", "cat2", "p2", "cat3", "cat4"});
  for (const ir::Node& n : net.nodes) CHECK_FALSE(n.layer->concatenation());
}

TEST_CASE("fuse_concatenations gives a Concat that several layers read to each of them, unless told one reader only", "[passes][fusion]") {
  const std::string layers = R"(
    layer { name: 'a' type: 'Conv1x1' input: 'x' output: 'a' conv { num_output: 8 } }
    layer { name: 'cat' type: 'Concat' input: 'a' input: 'x' output: 'j' }
    layer { name: 'p' type: 'MaxPool' input: 'j' output: 'p' pool { kernel_size: 2 } }
    layer { name: 'c' type: 'Conv1x1' input: 'j' output: 'c' conv { num_output: 4 } }
    layer { name: 'c2' type: 'Conv1x1' input: 'j' output: 'c2' conv { num_output: 4 } })";
  ir::Net several = connected(layers), one = connected(layers);
  fuse_concatenations(several, true);
  CHECK(layer_names(several) == std::vector<std::string>{"in", "a", "p", "c", "c2"});
  for (const char* reader : {"p", "c", "c2"}) {
    CHECK(inputs_of(several, reader) == std::vector<std::string>{"a", "x"});
    REQUIRE(concatenation_in(several, reader));
    CHECK(concatenation_in(several, reader)->name() == "cat");
  }
  // Each its own: none is another's.
  CHECK(concatenation_in(several, "p") != concatenation_in(several, "c"));
  CHECK(concatenation_in(several, "c") != concatenation_in(several, "c2"));
  CHECK(several.blobs.count("j") == 0);
  fuse_concatenations(one, false);
  CHECK(layer_names(one) == std::vector<std::string>{"in", "a", "cat", "p", "c", "c2"});
}

TEST_CASE("run_passes: an inference graph drops identities before fusing, and a training graph keeps its Dropout", "[passes]") {
  const std::string layers = R"(
    layer { name: 'c' type: 'Conv1x1' input: 'x' output: 'c' conv { num_output: 4 } }
    layer { name: 'd' type: 'Dropout' input: 'c' output: 'd' }
    layer { name: 'r' type: 'ReLU' input: 'd' output: 'r' }
    layer { name: 'd2' type: 'Dropout' input: 'r' output: 'd2' })";
  ir::Net inference = connected(layers, true), training = connected(layers, false);
  run_passes(inference, GraphOptions::inference());
  run_passes(training, GraphOptions::seeded(1));
  // With the Dropout gone, the ReLU alone reads the convolution; d2 named r's output, now c's.
  CHECK(layer_names(inference) == std::vector<std::string>{"in", "c"});
  CHECK(inference.aliases == std::map<std::string, std::string>{{"d", "c"}, {"d2", "c"}, {"r", "c"}});
  CHECK(layer_names(training) == std::vector<std::string>{"in", "c", "d", "r", "d2"});
  ir::Net unfused = connected(layers, true);
  run_passes(unfused, GraphOptions::inference().unfused());
  CHECK(layer_names(unfused) == std::vector<std::string>{"in", "c", "r"});
  CHECK(unfused.aliases == std::map<std::string, std::string>{{"d", "c"}, {"d2", "r"}});
}

TEST_CASE("fold_batch_norm: a BatchNorm after a convolution or FC layer folds into it, one after a pooling layer stays", "[passes][fold]") {
  // bn1 follows a convolution without bias, bn2 an FC layer with one; bn3 follows a pooling
  // layer and stays.
  const auto net = parse_net(R"(
    layer { name: 'in' type: 'Input' output: 'x' output: 'label' input_param { shape { dim: 3 dim: 2 dim: 8 dim: 8 } shape { dim: 3 } } }
    layer { name: 'c' type: 'Conv3x3' input: 'x' output: 'c' conv { num_output: 16 bias_term: false } }
    layer { name: 'bn1' type: 'BatchNorm' input: 'c' output: 'b1' }
    layer { name: 'r' type: 'ReLU' input: 'b1' output: 'r' }
    layer { name: 'p' type: 'MaxPool' input: 'r' output: 'p' }
    layer { name: 'bn3' type: 'BatchNorm' input: 'p' output: 'b3' }
    layer { name: 'fc' type: 'FC' input: 'b3' output: 'f' fc { num_output: 10 } }
    layer { name: 'bn2' type: 'BatchNorm' input: 'f' output: 'score' }
    layer { name: 'loss' type: 'SoftmaxCrossEntropy' input: 'score' input: 'label' output: 'loss' })");
  const onebyone::Checkpoint c = trained_batch_norms(net);
  const onebyone::Checkpoint folded = fold_batch_norm(c);
  std::vector<std::string> types;
  for (const auto& l : folded.net().layer()) types.push_back(l.name() + ":" + l.type());
  CHECK(types == std::vector<std::string>{"in:Input", "c:Conv3x3", "r:ReLU", "p:MaxPool", "bn3:BatchNorm", "fc:FC", "loss:SoftmaxCrossEntropy"});
  Graph a = graph_from(c), b = graph_from(folded);
  for (Graph* h : {&a, &b}) {
    randomize_inputs(*h, 5);
    std::fill(h->value("label").data(), h->value("label").data() + 3, 1.f);
    h->forward(Context::evaluation());
  }
  CHECK(max_relative_error(b.value("score"), to_array(a.value("score"))) < 1e-5);
  CHECK(b.num_layers() == 6);  // in, c+ReLU (fused), p, bn3, fc, loss
}

TEST_CASE("fold_batch_norm folds a chain of BatchNorms, and none whose input has another reader", "[passes][fold]") {
  const auto net = parse_net(std::string(kInput) + R"(
    layer { name: 'c' type: 'Conv1x1' input: 'x' output: 'c' conv { num_output: 4 } }
    layer { name: 'bn1' type: 'BatchNorm' input: 'c' output: 'b1' }
    layer { name: 'bn2' type: 'BatchNorm' input: 'b1' output: 'b2' }
    layer { name: 'k' type: 'Conv1x1' input: 'x' output: 'k' conv { num_output: 4 } }
    layer { name: 'bn3' type: 'BatchNorm' input: 'k' output: 'b3' }
    layer { name: 'cat' type: 'Concat' input: 'b2' input: 'b3' input: 'k' output: 'y' })");
  const onebyone::Checkpoint c = trained_batch_norms(net);
  const onebyone::Checkpoint folded = fold_batch_norm(c);
  std::vector<std::string> layers;
  for (const auto& l : folded.net().layer()) layers.push_back(l.name() + ":" + l.output(0));
  CHECK(layers == std::vector<std::string>{"in:x", "c:b2", "k:k", "bn3:b3", "cat:y"});
  Graph a = graph_from(c, GraphOptions::inference()), b = graph_from(folded, GraphOptions::inference());
  for (Graph* h : {&a, &b}) {
    randomize_inputs(*h, 5);
    h->forward(Context::evaluation());
  }
  CHECK(max_relative_error(b.value("y"), to_array(a.value("y"))) < 1e-5);
}

}  // namespace
