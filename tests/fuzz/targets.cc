#include "tests/fuzz/targets.h"

#include <zlib.h>

#include <cstring>

#include "framework/checkpoint.h"
#include "framework/data/idx.h"
#include "framework/error.h"
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

}  // namespace

void model(const std::string& bytes) {
  try {
    onebyone::NetParameter net;
    parse_text(bytes, "<fuzz>", &net);
    Graph g(net, GraphOptions::seeded(1));
    if (!g.input_blobs().empty()) g.set_batch(1);  // the shipped models' batch of 128 would only slow the search
    g.forward(Context::training(1, 0));
    g.backward();
  } catch (const Error&) {
  }
  try {
    onebyone::SolverParameter solver;
    parse_text(bytes, "<fuzz>", &solver);
    std::vector<std::string> notices;
    const onebyone::SolverParameter s = resolve(solver, 100, &notices);
    for (int64_t step : {int64_t{0}, int64_t{1}, s.warmup_iter(), s.max_iter(), int64_t{1} << 40}) learning_rate(s, step);
  } catch (const Error&) {
  }
}

void checkpoint(const std::string& bytes) {
  std::string file = bytes;
  if (!bytes.empty() && (bytes[0] & 1)) {  // a payload: give it a valid header, so that parsing goes deeper
    const std::string payload = bytes.substr(1);
    const uint64_t length = payload.size();
    const uint32_t crc = static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(payload.data()), length));
    file = std::string("OBOCKPT1") + std::string(reinterpret_cast<const char*>(&length), 8) +
           std::string(reinterpret_cast<const char*>(&crc), 4) + payload;
  }
  try {
    const onebyone::Checkpoint c = parse_checkpoint(file, "<fuzz>");
    static const Dataset train = digits(), test = digits();
    TrainerOptions options;
    options.stop_after_steps = 1;
    Trainer trainer(c, train, test, options);
    trainer.run();
  } catch (const Error&) {
  }
}

void idx(const std::string& bytes) {
  try {
    parse_idx_images(bytes, "<fuzz>");
  } catch (const Error&) {
  }
  try {
    parse_idx_labels(bytes, "<fuzz>");
  } catch (const Error&) {
  }
}

void image(const std::string& bytes) {
  try {
    cli::decode_image(bytes, "<fuzz>");
  } catch (const Error&) {
  }
}

}  // namespace obo::fuzz
