// Swish's tests, with Catch2 and the installed test helpers (find_package(OneByOne COMPONENTS
// testing)), against the plugin as the tool loads it: its output against a naive reference, its
// gradients on a plain input and behind a convolution (where a gradient 1% off fails), and a whole
// net's gradients against the same net run in double, with a reference for Swish registered.
//   swish_test            (the plugin's path is built in: SWISH_PLUGIN)
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>

#include <google/protobuf/descriptor.h>

#include <cmath>

#include "framework/registry.h"
#include "tests/gradient_check.h"
#include "tests/layers/elementwise.h"
#include "tests/reference.h"
#include "tests/test_util.h"

using namespace obo;
using namespace obo::test;

namespace {

double swish(double x, double beta) { return x / (1 + std::exp(-beta * x)); }

// A layer's [swish.swish] { beta }, read by reflection: the test does not link swish.pb.cc, whose
// schema the plugin alone registers (twice would be refused, as two plugins declaring it are).
double beta_of(const LayerParameter& l) {
  const auto* block = google::protobuf::DescriptorPool::generated_pool()->FindExtensionByName("swish.swish");
  const google::protobuf::Message& swish = l.GetReflection()->GetMessage(l, block);
  return swish.GetReflection()->GetFloat(swish, swish.GetDescriptor()->FindFieldByName("beta"));
}

// Loads the plugin once, before the first test uses it, and gives ReferenceNet its Swish.
const bool loaded = [] {
  load_plugin(SWISH_PLUGIN);
  register_reference("Swish", [](const LayerParameter& l, const std::vector<const Array*>& in, const ParamOf&) {
    const double beta = beta_of(l);
    Array y = *in[0];
    for (double& v : y.data) v = swish(v, beta);
    return y;
  });
  return true;
}();

}  // namespace

TEST_CASE("Swish computes x * sigmoid(beta * x), and its gradients check", "[swish]") {
  REQUIRE(loaded);
  check_elementwise("type: 'Swish' [swish.swish] { beta: 1.5 }", [](double x) { return swish(x, 1.5); }, false);
}

TEST_CASE("a net with Swish checks its gradients against the same net in double", "[swish]") {
  const auto net = parse_net(R"(
    layer { name: 'in' type: 'Input' output: 'x' input_param { shape { dim: 2 dim: 3 dim: 6 dim: 6 } } }
    layer { name: 'c' type: 'Conv3x3' input: 'x' output: 'c' conv { num_output: 8 } }
    layer { name: 's' type: 'Swish' input: 'c' output: 's' [swish.swish] { beta: 0.7 } }
    layer { name: 'p' type: 'AvgPool' input: 's' output: 'p' pool { kernel_size: 2 } }
    layer { name: 'fc' type: 'FC' input: 'p' output: 'score' fc { num_output: 4 } })");
  Graph g(net, GraphOptions::for_gradient_check(1));
  randomize_inputs(g, 2);
  const ModelReport report = check_model_gradients(g, net, "score");
  INFO(report.worst_at);
  CHECK(report.ok());
  CHECK(report.checked == static_cast<int>(g.params().size()) + 1);
}

TEST_CASE("Swish's beta must be finite, and its block belongs to Swish layers only", "[swish][errors]") {
  const std::string input = "layer { name: 'in' type: 'Input' output: 'x' input_param { shape { dim: 2 dim: 3 } } }\n";
  CHECK_THROWS_WITH(Graph(parse_net(input + "layer { name: 's' type: 'Swish' input: 'x' output: 'y' [swish.swish] { beta: inf } }")),
                    "layer 's' (Swish): swish.beta must be finite, got inf");
  CHECK_THROWS_WITH(Graph(parse_net(input + "layer { name: 'r' type: 'ReLU' input: 'x' output: 'y' [swish.swish] { beta: 2 } }")),
                    Catch::StartsWith("layer 'r' (ReLU): [swish.swish] is a parameter of Swish (plugin '"));
}
