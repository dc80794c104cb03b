#include "tests/fuzz/targets.h"

#include <zlib.h>

#include <cstring>

#include "framework/checkpoint.h"
#include "framework/data/idx.h"
#include "framework/error.h"
#include "framework/inference.h"
#include "framework/onnx.h"
#include "framework/optimizer.h"
#include "framework/proto_io.h"
#include "framework/trainer.h"
#include "tools/image_io.h"

namespace obo::fuzz {
namespace {

// 64 digits of 28x28, every class present.
Dataset digits() {
  Dataset d;
  d.count = 64;
  d.rows = d.cols = 28;
  d.pixels.resize(64 * 28 * 28);
  for (size_t i = 0; i < d.pixels.size(); ++i) d.pixels[i] = static_cast<uint8_t>(i * 7);
  for (int64_t i = 0; i < d.count; ++i) d.labels.push_back(static_cast<uint8_t>(i % 10));
  return d;
}

// Runs one stage, and says how it ended: an obo::Error is an answer; anything else propagates
// (to the fuzzer, a finding).
template <typename F>
void stage(Outcome& outcome, const std::string& name, F&& f) {
  try {
    f();
    outcome.push_back(name + ": accepted");
  } catch (const Error& e) {
    outcome.push_back(name + ": refused: " + e.what());
  }
}

}  // namespace

Outcome model(const std::string& bytes) {
  Outcome outcome;
  stage(outcome, "net", [&] {
    onebyone::NetParameter net;
    parse_text(bytes, "<fuzz>", &net);
    Graph g(net, GraphOptions::seeded(1));
    if (!g.input_blobs().empty()) g.set_batch(1);  // the shipped models' batch of 128 would only slow the search
    g.forward(Context::training(1, 0));
    g.backward();
  });
  stage(outcome, "solver", [&] {
    onebyone::SolverParameter solver;
    parse_text(bytes, "<fuzz>", &solver);
    validate(solver);  // as read_solver() does
    std::vector<std::string> notices;
    const onebyone::SolverParameter s = resolve(solver, 100, &notices);
    for (int64_t step : {int64_t{0}, int64_t{1}, s.warmup_iter(), s.max_iter(), int64_t{1} << 40}) learning_rate(s, step);
  });
  return outcome;
}

Outcome checkpoint(const std::string& bytes) {
  // The first byte says what the rest is. Every input has it, so that a file's own first byte
  // ('O' is odd) never decides.
  std::string file = bytes.empty() ? "" : bytes.substr(1);
  if (!bytes.empty() && (bytes[0] & 1)) {  // a payload: give it a valid header, so that parsing goes deeper
    const std::string payload = file;
    const uint64_t length = payload.size();
    const uint32_t crc = static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(payload.data()), length));
    file = std::string("OBOCKPT1") + std::string(reinterpret_cast<const char*>(&length), 8) +
           std::string(reinterpret_cast<const char*>(&crc), 4) + payload;
  }
  Outcome outcome;
  stage(outcome, "checkpoint", [&] {
    const onebyone::Checkpoint c = parse_checkpoint(file, "<fuzz>");
    static const Dataset train = digits(), test = digits();
    TrainerOptions options;
    options.stop_after_steps = 1;
    Trainer trainer(c, train, test, options);
    trainer.run();
  });
  return outcome;
}

Outcome idx(const std::string& bytes) {
  Outcome outcome;
  stage(outcome, "images", [&] { parse_idx_images(bytes, "<fuzz>"); });
  stage(outcome, "labels", [&] { parse_idx_labels(bytes, "<fuzz>"); });
  return outcome;
}

Outcome image(const std::string& bytes) {
  Outcome outcome;
  stage(outcome, "image", [&] { cli::decode_image(bytes, "<fuzz>"); });
  return outcome;
}

Outcome onnx(const std::string& bytes) {
  Outcome outcome;
  stage(outcome, "import", [&] {
    Graph g = inference_graph(import_onnx(bytes, "<fuzz>"), 1);
    g.forward(Context::evaluation());
  });
  return outcome;
}

}  // namespace obo::fuzz
