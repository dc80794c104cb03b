// The gradient checker against wrong gradients: for every layer type in layers/, a small net
// whose gradients check, and the same derivatives judged against gradients with an error planted
// in them (GradientReport::planted), as a backward pass that wrote them would be judged: 1% off
// in one typical element of any one tensor, or in all of them, fails the check. A layer whose
// backward pass really is wrong in one element fails too, and the checker names the element.
//
//   unit_tests "[mutation]"   prints, per layer, the worst relative error of its check and the
//                             smallest planted error it catches
#include <catch2/catch.hpp>

#include <cstdio>
#include <functional>
#include <map>

#include "framework/registry.h"
#include "tests/gradient_check.h"
#include "tests/test_util.h"

using namespace obo;
using namespace obo::test;

namespace {

struct Case {
  std::string layer;  // the layer, on inputs x0, x1, ... of the shapes below, output y
  std::vector<Shape> inputs;
  GradientCheck options = {};
  std::function<void(Graph&)> prepare = [](Graph& g) { randomize_inputs_clear_of_zero(g, 3); };
};

GradientCheck with_step(double step) {
  GradientCheck o;
  o.step = step;
  return o;
}

// One case per layer type in layers/, on shapes whose channels are no multiple of 8 or 16, so
// that a blocked layout's partial last block takes part.
const std::map<std::string, Case>& cases() {
  static const std::map<std::string, Case> all = {
      {"Conv", {"type: 'Conv' conv { num_output: 5 kernel_size: 3 stride: 2 pad: 1 }", {{2, 3, 7, 7}}}},
      {"Conv1x1", {"type: 'Conv1x1' conv { num_output: 6 }", {{2, 5, 4, 4}}}},
      {"Conv3x3", {"type: 'Conv3x3' conv { num_output: 6 }", {{2, 4, 5, 5}}}},
      {"FC", {"type: 'FC' fc { num_output: 5 }", {{3, 3, 2, 2}}}},
      {"Add", {"type: 'Add' input: 'x1'", {{2, 3, 4, 4}, {2, 3, 4, 4}}}},
      {"Concat", {"type: 'Concat' input: 'x1'", {{2, 3, 3, 3}, {2, 5, 3, 3}}}},
      {"Flatten", {"type: 'Flatten'", {{2, 3, 2, 3}}}},
      {"AvgPool", {"type: 'AvgPool' pool { kernel_size: 3 stride: 2 pad: 1 }", {{2, 3, 5, 5}}}},
      // A max-pool selects: inputs 0.05 apart, steps within half of that.
      {"MaxPool", {"type: 'MaxPool' pool { kernel_size: 2 }", {{2, 3, 6, 6}}, with_step(0.02),
                   [](Graph& g) { distinct_inputs(g, 3); }}},
      {"GlobalAvgPool", {"type: 'GlobalAvgPool'", {{2, 5, 3, 3}}}},
      {"Dropout", {"type: 'Dropout' dropout { ratio: 0.3 }", {{2, 3, 4, 4}}}},
      {"ReLU", {"type: 'ReLU'", {{2, 3, 4, 5}}}},
      {"LeakyReLU", {"type: 'LeakyReLU' leaky_relu { negative_slope: 0.1 }", {{2, 3, 4, 5}}}},
      {"ELU", {"type: 'ELU' elu { alpha: 0.5 }", {{2, 3, 4, 5}}}},
      {"Sigmoid", {"type: 'Sigmoid'", {{2, 3, 4, 5}}}},
      {"Tanh", {"type: 'Tanh'", {{2, 3, 4, 5}}}},
      {"Softplus", {"type: 'Softplus'", {{2, 3, 4, 5}}}},
      {"SiLU", {"type: 'SiLU'", {{2, 3, 4, 5}}}},
      {"PReLU", {"type: 'PReLU'", {{2, 3, 4, 5}}}},
      {"BatchNorm", {"type: 'BatchNorm'", {{4, 3, 3, 3}}}},
      {"LRN", {"type: 'LRN' lrn { local_size: 3 alpha: 0.5 beta: 0.75 k: 2 }", {{2, 5, 3, 3}}}},
      {"Softmax", {"type: 'Softmax'", {{3, 7}}}},
      // The loss is one float: its rounding over the step would drown its smallest gradients at
      // a step of 0.01, not at 0.1 (Richardson keeps the larger step exact).
      {"SoftmaxCrossEntropy", {"type: 'SoftmaxCrossEntropy' input: 'x1'", {{4, 10}, {4}}, {},
                               [](Graph& g) {
                                 randomize_inputs_clear_of_zero(g, 3, 2.f);
                                 const float labels[] = {3, 0, 9, 2};
                                 Tensor& l = g.value("x1");
                                 std::copy(labels, labels + 4, l.data());
                               }}},
  };
  return all;
}

// Types whose layers take no gradient to check, as they say (Layer::role): the caller's inputs,
// and a metric.
const std::map<std::string, std::string> kNoGradient = {
    {"Input", "name: 'in' type: 'Input' output: 'x' input_param { shape { dim: 1 } }"},
    {"Accuracy", "name: 'acc' type: 'Accuracy' input: 's' input: 'label' output: 'a'"},
};

Graph build(const Case& c) {
  Graph g(single_layer_net(c.inputs, "name: 'layer' input: 'x0' output: 'y' " + c.layer), GraphOptions::for_gradient_check(1));
  c.prepare(g);
  return g;
}

// The smallest relative error, planted as `plant` does, that fails the check (to 2 digits).
double smallest_caught(const std::function<GradientReport(double)>& plant) {
  double lo = 0, hi = 1;
  if (plant(hi).ok()) return INFINITY;
  while (hi - lo > 0.01 * hi) {
    const double mid = (lo + hi) / 2;
    (plant(mid).ok() ? lo : hi) = mid;
  }
  return hi;
}

}  // namespace

TEST_CASE("every shipped layer's gradient check fails a gradient 1% off, in one element or in all", "[gradcheck][mutation]") {
  const std::set<std::string> types = shipped_layer_types();
  const std::string type = GENERATE_COPY(from_range(types.begin(), types.end()));
  INFO(type);
  if (kNoGradient.count(type)) {
    LayerParameter p;
    parse_text(kNoGradient.at(type), "<test layer>", &p);
    const Role role = create_layer(p)->role();
    CHECK((role == Role::kInput || role == Role::kMetric));
    return;
  }
  const auto found = cases().find(type);
  if (found == cases().end()) FAIL("no gradient case for layer type '" << type << "': add one to " << __FILE__);
  const Case& c = found->second;
  Graph g = build(c);
  const GradientReport report = check_gradients(g, {"y"}, c.options);
  INFO(report.summary());
  REQUIRE(report.ok());
  CHECK(report.kinks() == 0);

  double one_element = 0;  // the largest, over the tensors, of the smallest error caught in one element
  for (size_t t = 0; t < report.tensors.size(); ++t) {
    const int64_t element = report.typical_element(static_cast<int>(t));
    INFO(report.tensors[t].name << "[" << element << "]");
    REQUIRE(element >= 0);
    const GradientReport wrong = report.planted(0.01, static_cast<int>(t), element);
    CHECK_FALSE(wrong.ok());
    CHECK(wrong.failures() == 1);
    CHECK(wrong.tensors[t].worst_index == element);
    one_element = std::max(one_element, smallest_caught([&](double e) {
                            return report.planted(e, static_cast<int>(t), element);
                          }));
  }
  CHECK_FALSE(report.planted(0.01).ok());
  CHECK_FALSE(report.planted(-0.01).ok());
  const double overall = smallest_caught([&](double e) { return report.planted(e); });
  std::printf("%-20s %6d elements  worst relative error %8.2g  smallest error caught: in one element %6.2g%%, in all %6.2g%%\n",
              type.c_str(), report.checked(), report.worst_raw(), 100 * one_element, 100 * overall);
}

namespace {

// y = 2x, whose backward pass gets element 7 wrong by 1%: the bug the checker exists for.
class WrongInOneElement : public Layer {
 public:
  explicit WrongInOneElement(const LayerParameter& p) : Layer(p) { expect_arity(1, 1, 1); }
  Shapes output_shapes(const Shapes& in) const override { return {in[0]}; }
  void reshape(const Ports& in, const Ports& out) override { out[0].value->reshape(in[0].value->shape()); }
  void forward(const Ports& in, const Ports& out, const Context&) override {
    for (int64_t i = 0; i < in[0].value->count(); ++i) out[0].value->data()[i] = 2 * in[0].value->data()[i];
  }
  void backward(const Ports& in, const Ports& out) override {
    for (int64_t i = 0; i < in[0].grad->count(); ++i) in[0].grad->data()[i] = (i == 7 ? 2.02f : 2.f) * out[0].grad->data()[i];
  }
};

REGISTER_LAYER("TestWrongInOneElement", WrongInOneElement);

}  // namespace

TEST_CASE("a backward pass wrong by 1% in one element fails the check, which names the element", "[gradcheck][mutation]") {
  Graph g(single_layer_net({{2, 3, 4}}, "name: 'wrong' type: 'TestWrongInOneElement' input: 'x0' output: 'y'"),
          GraphOptions::for_gradient_check(1));
  randomize_inputs(g, 1);
  const GradientReport report = check_gradients(g, {"y"});
  INFO(report.summary());
  CHECK_FALSE(report.ok());
  CHECK(report.failures() == 1);
  CHECK_THAT(report.worst_at(), Catch::StartsWith("x0[7]:"));
}

TEST_CASE("a tensor with nothing checked fails the check", "[gradcheck]") {
  // A max-pool over four equal inputs: whichever is raised wins, so every element sits on a kink.
  Graph g(single_layer_net({{1, 1, 2, 2}}, "name: 'p' type: 'MaxPool' input: 'x0' output: 'y' pool { kernel_size: 2 }"),
          GraphOptions::for_gradient_check(1));
  const GradientReport report = check_gradients(g, {"y"});
  INFO(report.summary());
  CHECK(report.kinks_in("x0") == 4);
  CHECK(report.checked() == 0);
  CHECK_FALSE(report.ok());
  CHECK_FALSE(GradientReport{}.ok());  // no tensor at all
}

namespace {

// The gradients a backward pass of the case's graph writes (inputs' and parameters'), after one
// forward pass; `poison(g, layer)` runs between the two passes.
std::vector<float> gradients_after(const Case& c, const std::function<void(Graph&, size_t)>& poison) {
  Graph g = build(c);
  size_t layer = 0;
  while (g.layer(layer).name() != "layer") ++layer;
  const Context ctx = Context::training(5, 0);
  g.forward(ctx);
  if (!g.seeds_gradient("y")) {
    Tensor& dy = g.grad("y");
    for (size_t i = 0; i < dy.size(); ++i) dy.data()[i] = 0.5f + 0.25f * std::sin(static_cast<float>(i));
  }
  poison(g, layer);
  try {
    g.backward();
  } catch (const Error&) {  // it read the poison, and said so (a label that is not a class)
    return {NAN};
  }
  std::vector<float> grads(g.param_grads().data(), g.param_grads().data() + g.param_grads().size());
  for (const std::string& x : g.input_blobs())
    if (!g.grad(x).empty()) grads.insert(grads.end(), g.grad(x).data(), g.grad(x).data() + g.grad(x).size());
  return grads;
}

void fill_nan(Tensor& t) { std::fill(t.data(), t.data() + t.size(), NAN); }

bool same(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());  // NaN never equals
}

}  // namespace

TEST_CASE("every shipped layer's backward reads the values it says it reads, and no other", "[gradcheck][memory]") {
  // What a layer says of its backward pass (backward_reads_input, backward_reads_output) decides
  // how long the memory plan keeps each value. A value said unread is overwritten with NaN
  // between the passes: the gradients must come out the same. A value said read is overwritten
  // likewise: they must not, or the plan keeps it alive for nothing.
  const std::set<std::string> types = shipped_layer_types();
  const std::string type = GENERATE_COPY(from_range(types.begin(), types.end()));
  if (kNoGradient.count(type)) return;
  INFO(type);
  const auto found = cases().find(type);
  if (found == cases().end()) FAIL("no gradient case for layer type '" << type << "': add one to " << __FILE__);
  const Case& c = found->second;
  const std::vector<float> clean = gradients_after(c, [](Graph&, size_t) {});
  REQUIRE(same(clean, clean));  // finite, and the same on a second run
  REQUIRE(same(clean, gradients_after(c, [](Graph&, size_t) {})));
  Graph shapes = build(c);
  size_t layer = 0;
  while (shapes.layer(layer).name() != "layer") ++layer;
  const Layer& l = shapes.layer(layer);
  for (size_t k = 0; k < shapes.inputs_of(layer).size(); ++k) {
    INFO("input " << k << ": backward_reads_input says " << l.backward_reads_input(k));
    const auto poisoned = gradients_after(c, [k](Graph& g, size_t i) { fill_nan(*g.inputs_of(i)[k].value); });
    CHECK(same(clean, poisoned) == !l.backward_reads_input(k));
  }
  for (size_t k = 0; k < shapes.outputs_of(layer).size(); ++k) {
    INFO("output " << k << ": backward_reads_output says " << l.backward_reads_output(k));
    const auto poisoned = gradients_after(c, [k](Graph& g, size_t i) { fill_nan(*g.outputs_of(i)[k].value); });
    CHECK(same(clean, poisoned) == !l.backward_reads_output(k));
  }
}
