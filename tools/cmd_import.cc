// onebyone import MODEL.onnx --out DIR [--name NAME]: an ONNX model as DIR/NAME.prototxt, a
// model file a person can read (one layer a line, with its output shape), and DIR/NAME.ckpt, its
// weights, which test, predict, summary, time and graph take. Neither file is replaced: an
// existing one is an error, and nothing is written.
#include <google/protobuf/text_format.h>

#include <filesystem>
#include <iostream>

#include "framework/checkpoint.h"
#include "framework/error.h"
#include "framework/graph.h"
#include "framework/io.h"
#include "framework/onnx.h"
#include "tools/common.h"

namespace obo::cli {
namespace {

namespace fs = std::filesystem;

struct ImportArgs {
  std::string onnx, out, name;
};

// The net as text: one layer a line, each with its output shape ("(N,64,28,28)").
std::string model_text(const onebyone::NetParameter& net, const std::string& source) {
  Graph g(net);
  const int64_t batch = g.batch();
  google::protobuf::TextFormat::Printer line;
  line.SetSingleLineMode(true);
  std::string text = fmt::format("# Imported by `onebyone import` from {}.\n# Shapes are (N,C,H,W) for the batch N = {}.\n"
                                 "name: \"{}\"\n\n",
                                 source, batch, net.name());
  for (const onebyone::LayerParameter& l : net.layer()) {  // in the file's order; the graph may fuse some
    std::string layer;
    line.PrintToString(l, &layer);
    const Shape shape = g.value(l.output(0)).shape();
    std::string dims = to_string(shape);
    if (shape.size() > 1 && shape[0] == batch) dims = "(N" + dims.substr(dims.find(','));
    text += fmt::format("layer {{ {}}}  # {}\n", layer, dims);
  }
  return text;
}

void import_model(const ImportArgs& a) {
  const onebyone::Checkpoint checkpoint = import_onnx(read_file(a.onnx, int64_t{2} << 30, "ONNX model"), a.onnx);
  const std::string name = a.name.empty() ? file_name_of(checkpoint.net().name()) : a.name;
  const std::string model = a.out + "/" + name + ".prototxt", weights = a.out + "/" + name + ".ckpt";
  for (const std::string& f : {model, weights})
    if (fs::exists(f)) fail("'{}' exists already: choose another --out or --name (import replaces nothing)", f);
  const std::string text = model_text(checkpoint.net(), a.onnx);
  fs::create_directories(a.out);
  save_checkpoint(weights, checkpoint);
  write_file(model, text);
  std::cout << fmt::format("wrote {} ({} layers) and {}: try `onebyone test {}` or `onebyone summary {}`\n", model,
                           checkpoint.net().layer_size(), weights, weights, model);
}

}  // namespace

void add_import(CLI::App& app) {
  auto args = std::make_shared<ImportArgs>();
  CLI::App* cmd = app.add_subcommand("import", "Read an ONNX model as a model file and a checkpoint");
  cmd->add_option("onnx", args->onnx, "The ONNX file")->required();
  cmd->add_option("--out", args->out, "The folder to write NAME.prototxt and NAME.ckpt into")->required();
  cmd->add_option("--name", args->name, "The files' name (default: the model's graph name)");
  cmd->callback([args] { import_model(*args); });
}

}  // namespace obo::cli
