// Every input the fuzzers ever found a fault with (tests/fuzz/regressions/<target>/), and their
// seed corpora, replayed through the same functions: each must end as this file says it must, in
// success or in a clear error, stage by stage. A file without a stated outcome fails the test.
#include <catch2/catch.hpp>

#include <filesystem>
#include <functional>
#include <map>

#include "framework/graph.h"
#include "framework/io.h"
#include "tests/fuzz/targets.h"

namespace {

// Each stage's outcome, from its start: "net: accepted", "solver: refused" (any reason), or the
// error itself ("image: refused: <fuzz>: ...").
const std::map<std::string, std::vector<std::string>> kExpected = {
    {"corpus/model/tiny.prototxt", {"net: accepted", "solver: refused"}},
    {"corpus/checkpoint/tiny.ckpt", {"checkpoint: accepted"}},
    {"corpus/checkpoint/tiny.payload", {"checkpoint: accepted"}},
    {"corpus/idx/images.idx3", {"images: accepted", "labels: refused: <fuzz>: magic number 0x00000803"}},
    {"corpus/idx/labels.idx1", {"images: refused: <fuzz>: 11 bytes is too short", "labels: accepted"}},
    {"corpus/image/digit.pgm", {"image: accepted"}},
    {"corpus/image/digit-text.pgm", {"image: accepted"}},
    {"corpus/image/grey.png", {"image: accepted"}},
    {"corpus/image/rgb.png", {"image: accepted"}},
    {"corpus/onnx/view.onnx", {"import: accepted"}},
    {"corpus/onnx/branches.onnx", {"import: accepted"}},
    {"regressions/image/pgm-header-5-gigapixels",
     {"image: refused: <fuzz>: a 230222x23022 image; images must be 1 to 8192 pixels on each side"}},
};

}  // namespace

TEST_CASE("inputs the fuzzers found or started from end as they must, in success or a clear error", "[fuzz][errors]") {
  const std::map<std::string, std::function<obo::fuzz::Outcome(const std::string&)>> targets = {
      {"model", obo::fuzz::model}, {"checkpoint", obo::fuzz::checkpoint}, {"idx", obo::fuzz::idx}, {"image", obo::fuzz::image},
      {"onnx", obo::fuzz::onnx}};
  obo::set_memory_limit(obo::fuzz::kMemoryLimit);
  int replayed = 0;
  for (const char* set : {"corpus", "regressions"}) {
    for (const auto& [name, target] : targets) {
      const std::filesystem::path dir = std::filesystem::path(ONEBYONE_SOURCE_DIR) / "tests/fuzz" / set / name;
      if (!std::filesystem::is_directory(dir)) continue;
      for (const auto& entry : std::filesystem::directory_iterator(dir)) {
        const std::string file = std::string(set) + "/" + name + "/" + entry.path().filename().string();
        const obo::fuzz::Outcome outcome = target(obo::read_file(entry.path().string(), 1 << 20, "fuzz input"));
        std::string said;
        for (const std::string& line : outcome) said += "\n  " + line;
        INFO(file << said);
        const auto expected = kExpected.find(file);
        if (expected == kExpected.end()) {
          FAIL_CHECK("no outcome stated for " << file << " in " << __FILE__);
          continue;
        }
        REQUIRE(outcome.size() == expected->second.size());
        for (size_t i = 0; i < outcome.size(); ++i) CHECK_THAT(outcome[i], Catch::StartsWith(expected->second[i]));
        ++replayed;
      }
    }
  }
  obo::set_memory_limit(0);
  CHECK(replayed == static_cast<int>(kExpected.size()));
}
