// onebyone import MODEL.onnx --out DIR [--name NAME]: an ONNX model as DIR/NAME.prototxt, a
// model file a person can read (one layer a line, with its output shape), DIR/NAME.ckpt, its
// weights, which test, predict, summary, time and graph take, and DIR/NAME.solver.prototxt, a
// solver for fine-tuning them (`train DIR/NAME.prototxt --weights DIR/NAME.ckpt` reads it). No
// file is replaced: an existing one is an error, and nothing is written.
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
  Graph g(net, GraphOptions().unfused());  // every layer's output a blob of its own
  const int64_t batch = g.batch();
  google::protobuf::TextFormat::Printer line;
  line.SetSingleLineMode(true);
  std::string text = fmt::format("# Imported by `onebyone import` from {}.\n# Shapes are (N,C,H,W) for the batch N = {}.\n"
                                 "name: \"{}\"\n\n",
                                 source, batch, net.name());
  for (const onebyone::LayerParameter& l : net.layer()) {  // in the file's order
    std::string layer;
    line.PrintToString(l, &layer);
    const Shape shape = g.value(l.output(0)).shape();
    std::string dims = to_string(shape);
    if (shape.size() > 1 && shape[0] == batch) dims = "(N" + dims.substr(dims.find(','));
    text += fmt::format("layer {{ {}}}  # {}\n", layer, dims);
  }
  return text;
}

// A gentle start for fine-tuning weights trained elsewhere: Adam at a tenth of the shipped
// models' rate, so that the first steps refine the weights rather than undo them.
std::string fine_tuning_solver(const std::string& model, const std::string& weights) {
  return fmt::format("# Written by `onebyone import` for fine-tuning the imported weights:\n"
                     "#   onebyone train {} --weights {}\n"
                     "# Adam at a small learning rate, so that the first steps refine the weights rather than\n"
                     "# undo them; edit freely.\n"
                     "optimizer: ADAM\nbase_lr: 0.0001\nschedule: COSINE\nbatch_size: 64\nepochs: 2\nseed: 1\n",
                     model, weights);
}

void import_model(const ImportArgs& a) {
  onebyone::Checkpoint checkpoint = import_onnx(read_file(a.onnx, int64_t{2} << 30, "ONNX model"), a.onnx);
  const std::string name = a.name.empty() ? fs::path(a.onnx).stem().string() : a.name;
  checkpoint.mutable_net()->set_name(name);
  const std::string model = a.out + "/" + name + ".prototxt", weights = a.out + "/" + name + ".ckpt",
                    solver = a.out + "/" + name + ".solver.prototxt";
  for (const std::string& f : {model, weights, solver})
    if (fs::exists(f)) fail("'{}' exists already: choose another --out or --name (import replaces nothing)", f);
  const std::string text = model_text(checkpoint.net(), a.onnx);
  fs::create_directories(a.out);
  save_checkpoint(weights, checkpoint);
  write_file(model, text);
  write_file(solver, fine_tuning_solver(model, weights));
  std::cout << fmt::format("wrote {} ({} layers), {} and {}: try `onebyone test {}`, `onebyone summary {}`, or "
                           "fine-tune with `onebyone train {} --weights {}`\n",
                           model, checkpoint.net().layer_size(), weights, solver, weights, model, model, weights);
}

}  // namespace

void add_import(CLI::App& app) {
  auto args = std::make_shared<ImportArgs>();
  CLI::App* cmd = app.add_subcommand("import", "Read an ONNX model as a model file and a checkpoint");
  cmd->add_option("onnx", args->onnx, "The ONNX file")->required();
  cmd->add_option("--out", args->out, "The folder to write NAME.prototxt and NAME.ckpt into")->required();
  cmd->add_option("--name", args->name, "The net's and the files' name (default: the ONNX file's, lenet for lenet.onnx)");
  cmd->callback([args] { import_model(*args); });
}

}  // namespace obo::cli
