// onebyone export [MODEL] CKPT --onnx FILE [--batch N | --dynamic-batch] [--softmax]: the
// checkpoint's inference graph as an ONNX model (framework/onnx.h), for ONNX Runtime and the
// other runtimes. The file is written whole or not at all; an existing file is replaced only by
// a complete, checked model.
#include <iostream>

#include "framework/error.h"
#include "framework/io.h"
#include "framework/onnx.h"
#include "tools/common.h"

namespace obo::cli {
namespace {

struct ExportArgs {
  std::vector<std::string> files;  // [MODEL] CKPT
  std::string onnx;
  int64_t batch = 1;
  bool dynamic_batch = false, softmax = false;
};

void export_model(const ExportArgs& a) {
  const onebyone::Checkpoint checkpoint = checkpoint_of(a.files, "export");
  const std::string model = export_onnx(checkpoint, {a.dynamic_batch ? 0 : a.batch, a.softmax});
  write_file(a.onnx, model);
  std::cout << fmt::format("wrote {} ({:.1f} kB, ONNX opset {}): '{}', {}\n", a.onnx, model.size() / 1e3, kOnnxOpset,
                           checkpoint.net().name(), onnx_signature(model));
}

}  // namespace

void add_export(CLI::App& app) {
  auto args = std::make_shared<ExportArgs>();
  CLI::App* cmd = app.add_subcommand("export", "Write a checkpoint's net for inference as an ONNX model");
  add_checkpoint_option(cmd, &args->files);
  cmd->add_option("--onnx", args->onnx, "The ONNX file to write")->required();
  auto* batch = cmd->add_option("--batch", args->batch, "The batch size the model takes")->capture_default_str()->check(at_least(1));
  cmd->add_flag("--dynamic-batch", args->dynamic_batch, "Any batch size (a symbolic first dimension 'N')")->excludes(batch);
  cmd->add_flag("--softmax", args->softmax, "Output class probabilities ('probabilities') instead of scores ('scores')");
  cmd->callback([args] { export_model(*args); });
}

}  // namespace obo::cli
