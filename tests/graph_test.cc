// The layer graph: ordering, shape inference, fan-out gradient sums, parameters in one buffer,
// whole-model gradient checks, and errors that name the layer and the shapes.
#include <catch2/catch.hpp>

#include <dnnl.hpp>

#include "framework/checkpoint.h"
#include "framework/inference.h"
#include "framework/optimizer.h"
#include "framework/registry.h"
#include "tests/gradient_check.h"
#include "tests/reference.h"
#include "tests/test_util.h"

using namespace obo;
using namespace obo::test;

namespace {

// A layer with a buffer, as BatchNorm keeps its running statistics: the output is the input, and
// in training each forward pass moves the buffer a tenth of the way to the batch's mean per
// channel. Plain (N,C,H,W) inputs only.
class RunningMeanLayer : public Layer {
 public:
  explicit RunningMeanLayer(const LayerParameter& p) : Layer(p) { expect_arity(1, 1, 1); }
  void setup(const Shapes& in) override { add_buffer("mean", {in[0][1]}, 0.5f); }
  Shapes output_shapes(const Shapes& in) const override { return {in[0]}; }
  void reshape(const Ports& in, const Ports& out) override { out[0].value->reshape(in[0].value->shape()); }
  void forward(const Ports& in, const Ports& out, const Context& ctx) override {
    const Tensor& x = *in[0].value;
    std::copy(x.data(), x.data() + x.count(), out[0].value->data());
    if (!ctx.train) return;
    const int64_t n = x.dim(0), c = x.dim(1), hw = x.count() / (n * c);
    float* mean = buffers()[0].value.data();
    for (int64_t k = 0; k < c; ++k) {
      double sum = 0;
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < hw; ++j) sum += x.data()[(i * c + k) * hw + j];
      mean[k] = 0.9f * mean[k] + 0.1f * static_cast<float>(sum / (n * hw));
    }
  }
  void backward(const Ports& in, const Ports& out) override {
    if (in[0].grad) std::copy(out[0].grad->data(), out[0].grad->data() + out[0].grad->count(), in[0].grad->data());
  }
};

REGISTER_LAYER("TestRunningMean", RunningMeanLayer);

// A leaky ReLU written by hand (plain tensors only), which says it can run as a post-op: the
// graph must fuse it with its slope, not as a plain ReLU.
class LeakyLayer : public Layer {
 public:
  explicit LeakyLayer(const LayerParameter& p) : Layer(p) { expect_arity(1, 1, 1); }
  std::optional<PostOp> as_post_op() const override { return PostOp{PostOp::Function::kRelu, 0.1f, 0.f, "TestLeaky"}; }
  Shapes output_shapes(const Shapes& in) const override { return {in[0]}; }
  void reshape(const Ports& in, const Ports& out) override { out[0].value->reshape(in[0].value->shape()); }
  void forward(const Ports& in, const Ports& out, const Context&) override {
    const Tensor x = in[0].value->to_plain();
    for (int64_t i = 0; i < x.count(); ++i) out[0].value->data()[i] = x.data()[i] > 0 ? x.data()[i] : 0.1f * x.data()[i];
  }
  void backward(const Ports&, const Ports&) override {}
};

REGISTER_LAYER("TestLeaky", LeakyLayer);

// A layer whose primitive oneDNN refuses, as it refuses a shape it has no kernel for.
class RefusedLayer : public Layer {
 public:
  explicit RefusedLayer(const LayerParameter& p) : Layer(p) { expect_arity(1, 1, 1); }
  Shapes output_shapes(const Shapes& in) const override { return {in[0]}; }
  void reshape(const Ports&, const Ports&) override {
    throw dnnl::error(dnnl_unimplemented, "could not create a primitive descriptor");
  }
  void forward(const Ports&, const Ports&, const Context&) override {}
  void backward(const Ports&, const Ports&) override {}
};

REGISTER_LAYER("TestRefused", RefusedLayer);

}  // namespace

TEST_CASE("a graph with fan-out and concatenation checks its gradients", "[graph]") {
  // x feeds three branches and the concat directly; 'a' feeds the concat and a second conv; two
  // 1x1 heads read the concat. Fused, each head absorbs it; unfused, the Concat layer runs.
  const bool fused = GENERATE(true, false);
  INFO((fused ? "fused" : "unfused"));
  Graph g(parse_net(R"(
    layer { name: 'in' type: 'Input' output: 'x' input_param { shape { dim: 2 dim: 8 dim: 6 dim: 6 } } }
    layer { name: 'a' type: 'Conv1x1' input: 'x' output: 'a' conv { num_output: 16 } }
    layer { name: 'b' type: 'Conv3x3' input: 'x' output: 'b' conv { num_output: 4 } }
    layer { name: 'p' type: 'AvgPool' input: 'x' output: 'p' pool { kernel_size: 3 stride: 1 pad: 1 } }
    layer { name: 'a2' type: 'Conv3x3' input: 'a' output: 'a2' conv { num_output: 8 } }
    layer { name: 'cat' type: 'Concat' input: 'a' input: 'b' input: 'p' input: 'a2' input: 'x' output: 'cat' }
    layer { name: 'head' type: 'Conv1x1' input: 'cat' output: 'y' conv { num_output: 5 } }
    layer { name: 'head2' type: 'Conv1x1' input: 'cat' output: 'y2' conv { num_output: 3 bias_term: false } })"),
          fused ? GraphOptions::for_gradient_check(1) : GraphOptions::for_gradient_check(1).unfused());
  CHECK(g.has_blob("cat") != fused);
  randomize_inputs(g, 1);
  randomize_params(g, 2, 0.3f);
  const GradientReport report = check_gradients(g, {"y", "y2"});
  INFO(report.summary());
  CHECK(report.ok());
}

TEST_CASE("layers run in dependency order whatever the file order", "[graph]") {
  const GraphOptions unfused = GraphOptions::seeded(0).unfused();
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

TEST_CASE("values share memory with the gradients of the backward pass, but the caller's keep their own", "[graph][memory]") {
  Graph g(read_net(model_path("nin")), GraphOptions::seeded(1));
  g.set_batch(4);
  g.value("data").assign_plain(random_tensor({4, 1, 28, 28}, 2));
  for (int i = 0; i < 4; ++i) g.value("label").data()[i] = static_cast<float>(i);
  g.forward(Context::training(1, 0));
  g.backward();
  struct Span {
    std::string what;
    const float* begin;
    const float* end;
  };
  std::vector<Span> spans;
  for (const std::string& name : g.blob_names()) {
    if (g.resolve(name) != name) continue;  // an alias of a fused post-op's output
    const Tensor& v = g.value(name);
    spans.push_back({name + " value", v.data(), v.data() + v.size()});
    const Tensor& d = g.grad(name);
    if (!d.empty()) spans.push_back({name + " gradient", d.data(), d.data() + d.size()});
  }
  const auto overlapping = [&](const std::string& what) {
    const Span& s = *std::find_if(spans.begin(), spans.end(), [&](const Span& x) { return x.what == what; });
    std::vector<std::string> others;
    for (const Span& o : spans)
      if (o.what != what && o.begin < s.end && s.begin < o.end) others.push_back(o.what);
    return others;
  };
  // cccp2's output (its ReLU kept as bits) only feeds pool1, whose backward reads its workspace,
  // and pool1's only dropout: they live only in the forward pass. conv1's output (one channel
  // in, cheap) is recomputed in the backward pass, so it is not alive in between either.
  for (const char* transient : {"cccp2 value", "pool1 value", "pool2 value", "conv1 value"}) {
    INFO(transient);
    const auto others = overlapping(transient);
    CHECK(std::any_of(others.begin(), others.end(), [](const std::string& o) { return o.find("gradient") != std::string::npos; }));
  }
  // The caller's: the images and labels it writes, the scores it reads next to the loss.
  for (const char* kept : {"score value", "data value", "label value"}) {
    INFO(kept);
    CHECK(overlapping(kept).empty());
  }
}

TEST_CASE("whole models check their gradients against a double-precision reference", "[graph][models]") {
  const std::string model = GENERATE("nin", "nin-fc", "nin-bn", "inception", "inception-noreduce", "lenet", "resnet-mini");
  INFO(model);
  // The objective is a random weighting of the class scores: the loss is one float, too coarse
  // to difference through a whole net (the loss layer has its own check).
  onebyone::NetParameter net = read_net(model_path(model));
  auto* layers = net.mutable_layer();
  layers->erase(std::remove_if(layers->begin(), layers->end(),
                               [](const LayerParameter& l) {
                                 const Role role = create_layer(l)->role();
                                 return role == Role::kLoss || role == Role::kMetric;
                               }),
                layers->end());
  Graph g(net, GraphOptions::for_gradient_check(3));
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
  Graph g(net, GraphOptions::for_gradient_check(3));
  g.set_batch(1);
  randomize_inputs(g, 4);
  ModelCheck wrong;
  wrong.inject = 1.01;
  const ModelReport report = check_model_gradients(g, net, "score", wrong);
  INFO(report.worst_at << "; checked " << report.checked << ", kinks " << report.kinks);
  CHECK(report.checked == static_cast<int>(g.params().size()) + 1);  // every parameter, and the images
  CHECK(report.failures == report.checked);
  CHECK_FALSE(report.ok());
}

TEST_CASE("train and eval modes differ only through dropout", "[graph]") {
  // NIN as shipped, and with its dropout rates set to 0: training and evaluation passes must
  // then give the same scores bit for bit, since nothing else in NIN depends on the mode.
  auto scores = [](bool dropout, const Context& ctx) {
    onebyone::NetParameter net = read_net(model_path("nin"));
    int dropouts = 0;
    for (auto& l : *net.mutable_layer())
      if (l.type() == "Dropout") {
        ++dropouts;
        if (!dropout) l.mutable_dropout()->set_ratio(0);
      }
    REQUIRE(dropouts > 0);
    Graph g(net, GraphOptions::seeded(1));
    g.reshape({{"data", {2, 1, 28, 28}}, {"label", {2}}});
    randomize_inputs(g, 1);
    std::fill(g.value("label").data(), g.value("label").data() + 2, 1.f);
    g.forward(ctx);
    return g.value("score").to_plain();
  };
  auto same = [](const Tensor& a, const Tensor& b) { return std::equal(a.data(), a.data() + a.count(), b.data()); };
  Context later = Context::evaluation();  // evaluation does not depend on the seed or the step
  later.seed = 1;
  later.step = 5;
  const Tensor eval = scores(true, Context::evaluation());
  CHECK(same(eval, scores(true, later)));
  CHECK_FALSE(same(eval, scores(true, Context::training(1, 0))));  // dropout at work
  CHECK(same(scores(false, Context::evaluation()), scores(false, Context::training(1, 0))));
  CHECK(same(eval, scores(false, Context::evaluation())));  // a rate does not matter in evaluation
}

TEST_CASE("an inference graph gives the training graph's evaluation, without dropout or gradients", "[graph][inference]") {
  const std::string model = GENERATE("nin-fc", "nin-bn", "inception");
  INFO(model);
  Graph trained(read_net(model_path(model)), GraphOptions::seeded(3));
  trained.set_batch(5);
  randomize_inputs(trained, 1);
  std::fill(trained.value("label").data(), trained.value("label").data() + 5, 1.f);
  for (Buffer* b : trained.buffers())  // running statistics other than their initial values
    for (int64_t i = 0; i < b->value.count(); ++i) b->value.data()[i] += 0.25f + 0.01f * static_cast<float>(i % 7);
  trained.forward(Context::evaluation());
  onebyone::Checkpoint c;
  *c.mutable_net() = read_net(model_path(model));
  store_params(trained, &c);

  Graph deployed = inference_graph(c, 5);
  deployed.value("data").assign_plain(trained.value("data").to_plain());
  deployed.value("label").assign_plain(trained.value("label").to_plain());
  deployed.forward(Context::evaluation());
  CHECK(max_relative_error(deployed.value("score"), to_array(trained.value("score"))) < 1e-4);
  for (size_t i = 0; i < deployed.num_layers(); ++i) {  // dropouts dropped, BatchNorms folded into the convolutions
    CHECK(deployed.layer(i).type() != "Dropout");
    CHECK(deployed.layer(i).type() != "BatchNorm");
  }
  if (model == "nin-fc") CHECK(deployed.resolve("drop1") == deployed.resolve("pool1"));
  CHECK(deployed.grad("score").empty());
  CHECK_THROWS_WITH(deployed.backward(), "an inference graph has no backward pass");
  CHECK_THROWS_WITH(deployed.forward(Context::training(1, 0)), "an inference graph runs evaluation passes only");
}

TEST_CASE("graph errors name the layer and what was expected", "[graph][errors]") {
  const std::string input = "layer { name: 'in' type: 'Input' output: 'x' input_param { shape { dim: 1 dim: 3 dim: 4 dim: 4 } } }\n";
  SECTION("a shape mismatch") {
    Graph g(parse_net(input + "layer { name: 'c' type: 'Conv3x3' input: 'x' output: 'y' conv { num_output: 2 } }"));
    CHECK_THROWS_WITH(g.reshape({{"x", {1, 5, 4, 4}}}), "layer 'c' (Conv3x3): expected input (N,3,H,W), got (1,5,4,4)");
  }
  SECTION("a primitive oneDNN refuses: the backend's message, in the layer's name") {
    CHECK_THROWS_WITH(Graph(parse_net(input + "layer { name: 'bad' type: 'TestRefused' input: 'x' output: 'y' }")),
                      "layer 'bad' (TestRefused): oneDNN failed in reshape: could not create a primitive descriptor");
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
                      Catch::StartsWith("layer 'c5': unknown layer type 'Conv5x5' (known: Accuracy, Add, AvgPool, BatchNorm, Concat, Conv,"));
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

TEST_CASE("buffers are saved and restored, never trained", "[graph][checkpoint]") {
  const auto net = parse_net(R"(
    layer { name: 'in' type: 'Input' output: 'x' output: 'label' input_param { shape { dim: 4 dim: 3 dim: 5 dim: 5 } shape { dim: 4 } } }
    layer { name: 'stats' type: 'TestRunningMean' input: 'x' output: 's' }
    layer { name: 'c' type: 'Conv1x1' input: 's' output: 'c' conv { num_output: 2 } }
    layer { name: 'gap' type: 'GlobalAvgPool' input: 'c' output: 'score' }
    layer { name: 'loss' type: 'SoftmaxCrossEntropy' input: 'score' input: 'label' output: 'loss' })");
  Graph g(net, GraphOptions::seeded(1));
  REQUIRE(g.buffers().size() == 1);
  const Buffer& mean = *g.buffers()[0];
  CHECK(mean.name == "stats.mean");
  CHECK(mean.value.shape() == Shape{3});
  CHECK(mean.value.data()[2] == 0.5f);
  CHECK(g.param_values().count() == 2 * 3 + 2);  // the conv's alone: buffers live apart

  // Evaluation leaves it alone; training moves it; the optimizer, weight decay included, never does.
  randomize_inputs(g, 3);
  std::fill(g.value("label").data(), g.value("label").data() + 4, 1.f);
  g.forward(Context::evaluation());
  CHECK(mean.value.data()[0] == 0.5f);
  g.forward(Context::training(1, 0));
  const float trained = mean.value.data()[0];
  CHECK(trained != 0.5f);
  onebyone::SolverParameter solver;
  solver.set_weight_decay(0.1f);
  g.backward();
  make_optimizer(solver, g)->step(0);
  CHECK(mean.value.data()[0] == trained);

  // A checkpoint keeps it; a new graph gets it back.
  onebyone::Checkpoint c;
  store_params(g, &c);
  REQUIRE(c.buffer_size() == 1);
  CHECK(c.buffer(0).name() == "stats.mean");
  Graph h(net, GraphOptions::seeded(2));
  restore_params(c, h);
  CHECK(h.buffers()[0]->value.data()[0] == trained);
  c.mutable_buffer(0)->set_data(1, NAN);
  CHECK_THROWS_WITH(restore_params(c, h), "checkpoint buffer 'stats.mean' holds nan at index 1: not a usable checkpoint");
  c.clear_buffer();
  CHECK_THROWS_WITH(restore_params(c, h), "the checkpoint holds 0 buffers, the net has 1");

  // Gradient checks see parameters and inputs only.
  Graph checked(net, GraphOptions::for_gradient_check(1));
  randomize_inputs(checked, 4);
  std::fill(checked.value("label").data(), checked.value("label").data() + 4, 1.f);
  const GradientReport report = check_gradients(checked, {"loss"});
  INFO(report.summary());
  CHECK(report.ok());
}

TEST_CASE("an element-wise layer is fused with its own function, as the layer says", "[graph][fusion]") {
  const auto net = parse_net(R"(
    layer { name: 'in' type: 'Input' output: 'x' input_param { shape { dim: 2 dim: 3 dim: 4 dim: 4 } } }
    layer { name: 'c' type: 'Conv1x1' input: 'x' output: 'c' conv { num_output: 5 } }
    layer { name: 'leaky' type: 'TestLeaky' input: 'c' output: 'y' })");
  Graph separate(net, GraphOptions::seeded(1).unfused()), fused(net, GraphOptions::seeded(1));
  REQUIRE(fused.num_layers() == 2);
  CHECK(fused.layer(1).description() == "Conv1x1+TestLeaky");
  for (Graph* g : {&separate, &fused}) {
    randomize_inputs(*g, 3);
    g->forward(Context::evaluation());
  }
  const Tensor a = separate.value("y").to_plain(), b = fused.value("y").to_plain();
  REQUIRE(std::any_of(a.data(), a.data() + a.count(), [](float v) { return v < 0; }));  // the slope shows
  for (int64_t i = 0; i < a.count(); ++i) CHECK(b.data()[i] == Approx(a.data()[i]).margin(1e-6));
}

TEST_CASE("a frozen inference graph converts its weights once, sees new ones when frozen again, and stays frozen across batches",
          "[graph][inference]") {
  // nin-fc (convolutions and a wide FC layer), and a 3x3 convolution wide enough for Winograd at
  // a batch of 32 (oneDNN's on AVX-512, ours on its matmul held to AVX2), whose weights are
  // transformed rather than reordered.
  const std::vector<std::pair<std::string, onebyone::NetParameter>> nets = {
      {"nin-fc", at_batch(read_net(model_path("nin-fc")), 3)},
      {"wide 3x3", parse_net(R"(
         layer { name: 'in' type: 'Input' output: 'x' input_param { shape { dim: 32 dim: 64 dim: 7 dim: 7 } } }
         layer { name: 'conv' type: 'Conv3x3' input: 'x' output: 'c' conv { num_output: 64 } }
         layer { name: 'relu' type: 'ReLU' input: 'c' output: 'y' } )")}};
  for (const auto& [name, net] : nets) {
    INFO(name << ", ISA " << onednn_isa());
    const std::string out = name == "nin-fc" ? "score" : "y";
    Graph g(net, GraphOptions::inference());
    randomize_params(g, 5, 0.1f);
    // What an unfrozen graph with g's parameters gives for g's inputs.
    const auto unfrozen = [&] {
      Graph plain(at_batch(net, g.batch()), GraphOptions::inference());
      for (size_t i = 0; i < g.params().size(); ++i) plain.params()[i]->value.assign_plain(g.params()[i]->value);
      for (const std::string& input : g.input_blobs()) plain.value(input).assign_plain(g.value(input).to_plain());
      plain.forward(Context::evaluation());
      return to_array(plain.value(out));
    };
    const auto new_inputs = [&](uint64_t seed) {
      randomize_inputs(g, seed);
      if (name == "nin-fc") std::fill(g.value("label").data(), g.value("label").data() + g.batch(), 1.f);
    };
    new_inputs(4);
    g.freeze();
    g.forward(Context::evaluation());
    const Array first = to_array(g.value(out));
    CHECK(max_relative_error(g.value(out), unfrozen()) == 0);

    // New weights, not frozen yet: a layer that always converts its weights (the Winograd
    // convolution transforms them) reads its own copy still.
    const auto change_weights = [&] {
      const Array before = to_array(g.value(out));
      for (Param* p : g.params())
        if (p->name.find(".weight") != std::string::npos)
          for (int64_t i = 0; i < p->value.count(); ++i) p->value.data()[i] *= -0.5f;
      if (name != "wide 3x3") return;
      g.forward(Context::evaluation());
      CHECK(max_relative_error(g.value(out), before) == 0);
    };
    change_weights();
    g.freeze();
    g.forward(Context::evaluation());
    CHECK(max_relative_error(g.value(out), first) > 0.1);
    CHECK(max_relative_error(g.value(out), unfrozen()) == 0);

    g.set_batch(g.batch() + 2);  // new primitives, the weights converted again
    new_inputs(6);
    g.forward(Context::evaluation());
    CHECK(max_relative_error(g.value(out), unfrozen()) == 0);
    change_weights();  // and still frozen
  }
  Graph training(at_batch(read_net(model_path("lenet")), 2), GraphOptions::seeded(1));
  CHECK_THROWS_WITH(training.freeze(), Catch::Contains("only an inference graph can be frozen"));
}
