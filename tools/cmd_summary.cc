// onebyone summary MODEL [--input N,C,H,W]: per-layer output shape, parameters and MFLOPs.
#include <iostream>

#include "framework/graph.h"
#include "framework/proto_io.h"
#include "framework/records.h"
#include "tools/common.h"

namespace obo::cli {
namespace {

struct SummaryArgs {
  std::string model;
  std::vector<int64_t> input;
};

void summary(const SummaryArgs& a) {
  const std::string path = model_path(a.model);
  const onebyone::NetParameter net = read_net(path);
  Graph graph(net);
  if (!a.input.empty()) {
    const std::string& data = graph.input_blobs().at(0);
    std::map<std::string, Shape> shapes{{data, Shape(a.input.begin(), a.input.end())}};
    for (size_t i = 1; i < graph.input_blobs().size(); ++i) {
      Shape s = graph.value(graph.input_blobs()[i]).shape();
      s[0] = a.input[0];
      shapes[graph.input_blobs()[i]] = s;
    }
    graph.reshape(shapes);
  }
  std::cout << fmt::format("{} ({}), input {}\n\n", net.name(), path, to_string(graph.value(graph.input_blobs()[0]).shape()));
  Records layers({Column("layer").shown("layer"), Column("type").shown("type"), Column("output").shown("output"),
                  Column("parameters").shown("parameters"), Column("mflops").shown("MFLOPs", ".2f")});
  int64_t params = 0;
  double mflops = 0;
  for (size_t i = 0; i < graph.num_layers(); ++i) {
    Layer& layer = graph.layer(i);
    int64_t p = 0;
    for (const Param& param : layer.params()) p += count(param.shape);
    const double f = 2e-6 * static_cast<double>(graph.multiply_adds(i));
    params += p;
    mflops += f;
    const Ports& out = graph.outputs_of(i);
    layers.add({layer.name(), layer.description(), out.empty() ? "" : to_string(out[0].value->shape()), p, f});
  }
  layers.set_total({"total", "", "", params, mflops});
  std::cout << layers.text();
  std::cout << "\nMFLOPs count 2 per multiply-add of convolutions and FC layers, for the whole input batch.\n";
}

}  // namespace

void add_summary(CLI::App& app) {
  auto args = std::make_shared<SummaryArgs>();
  CLI::App* cmd = app.add_subcommand("summary", "Per-layer output shapes, parameters and MFLOPs");
  cmd->add_option("model", args->model, "Model file or name in models/")->required();
  cmd->add_option("--input", args->input, "Input shape N,C,H,W (default: the model's)")->delimiter(',')->expected(4);
  cmd->callback([args] { summary(*args); });
}

}  // namespace obo::cli
