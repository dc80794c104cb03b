// onebyone quantize [MODEL] CKPT --calibrate N [--out Q.ckpt]: the checkpoint for int8 inference
// (framework/quantize.h). N training images set every blob's range; `test`, `predict` and `time`
// then run the quantized checkpoint in int8 wherever its layers can. Replaces no file.
#include <filesystem>
#include <iostream>

#include "framework/checkpoint.h"
#include "framework/error.h"
#include "framework/inference.h"
#include "framework/quantize.h"
#include "tools/common.h"

namespace obo::cli {
namespace {

namespace fs = std::filesystem;

struct QuantizeArgs {
  std::vector<std::string> files;  // [MODEL] CKPT
  std::string out, data;
  int64_t calibrate = 0, batch = 100;
  int threads = 0;
};

void quantize(const QuantizeArgs& a) {
  apply_threads(a.threads);
  const std::string& path = a.files.back();
  const onebyone::Checkpoint checkpoint = checkpoint_of(a.files, "quantize");
  if (checkpoint.has_quantization())
    fail("'{}' is quantized already (from {} images): quantize the float checkpoint it came from", path,
         checkpoint.quantization().calibration_images());
  std::string out = a.out;
  if (out.empty()) {  // runs/nin/best.ckpt -> runs/nin/best.int8.ckpt
    fs::path p(path);
    out = (p.parent_path() / (p.stem().string() + ".int8.ckpt")).string();
  }
  if (fs::exists(out)) fail("'{}' exists already: choose another --out (quantize replaces no file)", out);
  const Dataset train = load(a.data, "train");
  if (a.calibrate > train.count)
    fail("--calibrate {}: the training set ({}) has {} images", a.calibrate, data_folder(a.data), train.count);
  const Dataset calibration = split_off(train, a.calibrate).first;
  const onebyone::Checkpoint quantized = obo::quantize(checkpoint, calibration, a.batch);

  // What runs int8: build the graph as `test` will, before anything is written.
  Graph graph = inference_graph(quantized, 1);
  std::vector<std::string> int8, floats;
  for (size_t i = 0; i < graph.num_layers(); ++i) {
    const Layer& layer = graph.layer(i);
    if (layer.role() != Role::kCompute) continue;
    (layer.computes_int8() ? int8 : floats).push_back(layer.name());
  }
  save_checkpoint(out, quantized);
  std::cout << fmt::format("wrote {}: '{}', activation ranges of {} blobs over {} training images (rule: max); "
                           "weights per output channel\n",
                           out, checkpoint.net().name(), quantized.quantization().range_size(), calibration.count);
  std::cout << fmt::format("int8: {}\n", int8.empty() ? "none" : fmt::format("{}", fmt::join(int8, " ")));
  if (!floats.empty()) std::cout << fmt::format("float: {}\n", fmt::join(floats, " "));
  const int levels = u8_levels();
  std::cout << fmt::format("on this CPU u8 activations use {} levels{}\n", levels,
                           levels < 256 ? " (no VNNI: a spare bit keeps oneDNN's 16-bit pair sums from saturating)" : "");
}

}  // namespace

void add_quantize(CLI::App& app) {
  auto args = std::make_shared<QuantizeArgs>();
  CLI::App* cmd = app.add_subcommand(
      "quantize", "Quantize a checkpoint for int8 inference, calibrated on the first N training images");
  add_checkpoint_option(cmd, &args->files);
  cmd->add_option("--calibrate", args->calibrate, "Training images that set the activation ranges")
      ->required()
      ->check(at_least(1));
  cmd->add_option("--out", args->out, "The quantized checkpoint to write (default: CKPT's name with .int8.ckpt)");
  cmd->add_option("--batch", args->batch, "Calibration batch size")->capture_default_str()->check(at_least(1));
  add_data_option(cmd, &args->data);
  add_threads_option(cmd, &args->threads);
  cmd->callback([args] { quantize(*args); });
}

}  // namespace obo::cli
