// onebyone cost MODEL [MODEL...]: parameters, multiply-adds and measured forward time of each
// model at its input shape, side by side; the seed's reduction arithmetic made concrete:
//   onebyone cost reduction reduction-3x3 reduction-5x5
#include <chrono>
#include <iostream>

#include "framework/graph.h"
#include "framework/proto_io.h"
#include "framework/records.h"
#include "framework/random.h"
#include "tools/common.h"

namespace obo::cli {
namespace {

struct CostArgs {
  std::vector<std::string> models;
  int iterations = 5, threads = 0;
};

void cost(const CostArgs& a) {
  apply_threads(a.threads);
  Records models({Column("model").shown("model"), Column("input").shown("input"), Column("output").shown("output"),
                  Column("parameters").shown("parameters"), Column("multiply_adds").shown("multiply-adds"),
                  Column("forward_ms").shown("forward ms", ".1f"), Column("gflops").shown("GFLOP/s", ".1f")});
  for (const std::string& m : a.models) {
    const onebyone::NetParameter net = read_net(model_path(m));
    Graph graph(net);
    // Random images; any further inputs (labels) stay 0, a valid class.
    Tensor& x = graph.value(graph.input_blobs().at(0));
    for (size_t i = 0; i < x.size(); ++i) x.data()[i] = uniform(1, 0, i);
    const int64_t macs = graph.multiply_adds();
    graph.forward(Context::evaluation());  // warm-up: first touches of memory
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < a.iterations; ++i) graph.forward(Context::evaluation());
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count() / a.iterations;
    const size_t last = graph.num_layers() - 1;
    models.add({net.name(), to_string(graph.value(graph.input_blobs()[0]).shape()),
                to_string(graph.outputs_of(last)[0].value->shape()), graph.param_values().count(), macs, ms,
                2.0 * macs / ms * 1e-6});
  }
  std::cout << models.text();
}

}  // namespace

void add_cost(CLI::App& app) {
  auto args = std::make_shared<CostArgs>();
  CLI::App* cmd = app.add_subcommand("cost", "Parameters, multiply-adds and forward time of models side by side");
  cmd->add_option("models", args->models, "Model files or names in models/")->required()->expected(1, 16);
  cmd->add_option("--iterations", args->iterations, "Timed forward passes per model")->capture_default_str()->check(at_least(1));
  add_threads_option(cmd, &args->threads);
  cmd->callback([args] { cost(*args); });
}

}  // namespace obo::cli
