// SoftmaxCrossEntropy and Accuracy.
#include <catch2/catch.hpp>

#include <cmath>

#include "tests/gradient_check.h"
#include "tests/reference.h"
#include "tests/test_util.h"

using namespace obo;
using namespace obo::test;

namespace {

Graph scored(const std::string& type, const Shape& scores, const std::vector<float>& labels) {
  Graph g(parse_net(fmt::format(R"(
    layer {{ name: 'in' type: 'Input' output: 's' output: 'label'
            input_param {{ shape {{ {} }} shape {{ dim: {} }} }} }}
    layer {{ name: 'head' type: '{}' input: 's' input: 'label' output: 'y' }})",
                                dims_text(scores), scores[0], type)),
          GraphOptions::for_gradient_check(1));
  std::copy(labels.begin(), labels.end(), g.value("label").data());
  return g;
}

}  // namespace

TEST_CASE("softmax cross-entropy matches the reference and its gradient checks", "[loss]") {
  const Shape shape = GENERATE(Shape{4, 10}, Shape{3, 7, 1, 1});
  Graph g = scored("SoftmaxCrossEntropy", shape, {3, 0, 6, 2});
  Tensor& s = g.value("s");
  s.assign_plain(random_tensor(s.shape(), 4, -3.f, 3.f));
  g.forward(Context::evaluation());
  const double ref = softmax_cross_entropy_ref(s, g.value("label"));
  CHECK(g.value("y").data()[0] == Approx(ref).epsilon(1e-6));
  CHECK(g.grad("label").empty());  // labels get no gradient
  const GradientReport report = check_gradients(g, {"y"});
  INFO(report.summary());
  CHECK(report.ok());
}

TEST_CASE("softmax cross-entropy is stable for large scores", "[loss]") {
  Graph g = scored("SoftmaxCrossEntropy", {2, 3}, {0, 2});
  const float scores[] = {1e4f, 0.f, -1e4f, 5e3f, 5e3f, 5e3f};
  std::copy(scores, scores + 6, g.value("s").data());
  g.forward(Context::evaluation());
  // Example 0 is certain and right (loss 0); example 1 is uniform over 3 (loss log 3).
  CHECK(g.value("y").data()[0] == Approx(std::log(3.0) / 2).epsilon(1e-5));
  g.backward();
  for (int i = 0; i < 6; ++i) CHECK(std::isfinite(g.grad("s").data()[i]));
}

TEST_CASE("a label outside the classes names the example", "[loss][errors]") {
  Graph g = scored("SoftmaxCrossEntropy", {2, 3}, {0, 3});
  CHECK_THROWS_WITH(g.forward(Context::evaluation()), "layer 'head' (SoftmaxCrossEntropy): label 3 of example 1 is not a class in [0, 3)");
}

TEST_CASE("accuracy counts the examples whose top score is the label", "[accuracy]") {
  Graph g = scored("Accuracy", {4, 3}, {0, 1, 2, 1});
  // argmax per row: 0 (right), 2 (wrong), 2 (right), tie 0/1 -> 0 (wrong).
  const float scores[] = {5, 1, 0, 0, 1, 2, -1, -2, 3, 4, 4, 0};
  std::copy(scores, scores + 12, g.value("s").data());
  g.forward(Context::evaluation());
  CHECK(g.value("y").data()[0] == 0.5f);
  CHECK(g.grad("s").empty());  // no gradient flows through a metric
}
