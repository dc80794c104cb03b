// Maxout's tests, against the installed package only: loaded as the plugin the tool would load,
// its output compared with a naive reference, its gradients with the installed gradient checker,
// on a plain input and on a convolution's blocked output; and its own ONNX form, which the
// exporter checks with ONNX's checker and shape inference.
//   maxout_test path/to/libmaxout.so
#include <cstdio>

#include "framework/checkpoint.h"
#include "framework/onnx.h"
#include "framework/registry.h"
#include "tests/gradient_check.h"
#include "tests/reference.h"
#include "tests/test_util.h"

using namespace obo;
using namespace obo::test;

namespace {

int failures = 0;

void check(bool ok, const std::string& what) {
  std::printf("%s: %s\n", ok ? "ok" : "FAILED", what.c_str());
  failures += !ok;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: maxout_test libmaxout.so\n");
    return 2;
  }
  try {
    check(load_plugin(argv[1]) == std::vector<std::string>{"Maxout"}, "the plugin registers Maxout");
    for (const bool after_conv : {false, true}) {
      const std::string net =
          std::string("layer { name: 'in' type: 'Input' output: 'x' input_param { shape { dim: 3 dim: 16 dim: 4 dim: 5 } } }\n") +
          (after_conv ? "layer { name: 'c' type: 'Conv1x1' input: 'x' output: 'c' conv { num_output: 16 } }\n" : "") +
          "layer { name: 'm' type: 'Maxout' input: '" + (after_conv ? "c" : "x") +
          "' output: 'y' [maxout.maxout] { pieces: 4 } }";
      Graph g(parse_net(net), GraphOptions::for_gradient_check(1));
      distinct_inputs(g, 2);  // no ties for the maximum to straddle
      g.forward(Context::evaluation());
      const Array x = to_array(g.value(after_conv ? "c" : "x"));
      Array expected{{3, 4, 4, 5}, std::vector<double>(3 * 4 * 20)};
      for (int64_t i = 0; i < 3; ++i)
        for (int64_t k = 0; k < 4; ++k)
          for (int64_t p = 0; p < 20; ++p) {
            double best = x.data[((i * 16 + k * 4) * 20) + p];
            for (int64_t j = 1; j < 4; ++j) best = std::max(best, x.data[((i * 16 + k * 4 + j) * 20) + p]);
            expected.data[(i * 4 + k) * 20 + p] = best;
          }
      const std::string where = after_conv ? " after a convolution" : " on a plain input";
      check(g.value("y").shape() == Shape{3, 4, 4, 5}, "the output has a quarter of the channels" + where);
      check(max_relative_error(g.value("y"), expected) < 1e-6, "the output is the groups' maxima" + where);
      const GradientReport report = check_gradients(g, {"y"});
      check(report.ok(), "gradients check" + where + " (worst: " + report.worst_at() + ")");
    }
    onebyone::Checkpoint trained;
    *trained.mutable_net() = parse_net(
        "layer { name: 'in' type: 'Input' output: 'x' output: 'label' input_param { shape { dim: 2 dim: 1 dim: 6 dim: 6 } "
        "shape { dim: 2 } } }\n"
        "layer { name: 'c' type: 'Conv3x3' input: 'x' output: 'c' conv { num_output: 8 } }\n"
        "layer { name: 'm' type: 'Maxout' input: 'c' output: 'm' [maxout.maxout] { pieces: 2 } }\n"
        "layer { name: 'gap' type: 'GlobalAvgPool' input: 'm' output: 's' }\n"
        "layer { name: 'loss' type: 'SoftmaxCrossEntropy' input: 's' input: 'label' output: 'l' }");
    Graph net(trained.net(), GraphOptions::seeded(1));
    store_params(net, &trained);
    OnnxExportOptions any_batch;
    any_batch.batch = 0;
    const std::string model = export_onnx(trained, any_batch);
    check(model.find("ReduceMax") != std::string::npos, "it exports to ONNX as Reshape and ReduceMax");
    try {
      Graph(parse_net("layer { name: 'in' type: 'Input' output: 'x' input_param { shape { dim: 1 dim: 6 dim: 2 dim: 2 } } }\n"
                      "layer { name: 'm' type: 'Maxout' input: 'x' output: 'y' [maxout.maxout] { pieces: 4 } }"));
      check(false, "6 channels in pieces of 4 are refused");
    } catch (const Error& e) {
      check(std::string(e.what()) ==
                "layer 'm' (Maxout): needs an (N,C,H,W) input whose C is a multiple of 4 pieces, got (1,6,2,2)",
            std::string("6 channels in pieces of 4 are refused: ") + e.what());
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return failures == 0 ? 0 : 1;
}
