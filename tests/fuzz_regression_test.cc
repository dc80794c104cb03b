// Every input the fuzzers ever found a fault with (tests/fuzz/regressions/<target>/), and their
// seed corpora, replayed through the same functions: each must end in a clear error or succeed.
#include <catch2/catch.hpp>

#include <filesystem>
#include <functional>
#include <map>

#include "framework/graph.h"
#include "framework/io.h"
#include "tests/fuzz/targets.h"

TEST_CASE("inputs the fuzzers found or started from end in a clear error, not a crash", "[fuzz][errors]") {
  const std::map<std::string, std::function<void(const std::string&)>> targets = {
      {"model", obo::fuzz::model}, {"checkpoint", obo::fuzz::checkpoint}, {"idx", obo::fuzz::idx}, {"image", obo::fuzz::image}};
  obo::set_memory_limit(obo::fuzz::kMemoryLimit);
  int replayed = 0;
  for (const char* set : {"corpus", "regressions"}) {
    for (const auto& [name, target] : targets) {
      const std::filesystem::path dir = std::filesystem::path(ONEBYONE_SOURCE_DIR) / "tests/fuzz" / set / name;
      if (!std::filesystem::is_directory(dir)) continue;
      for (const auto& entry : std::filesystem::directory_iterator(dir)) {
        INFO(entry.path().string());
        CHECK_NOTHROW(target(obo::read_file(entry.path().string(), 1 << 20, "fuzz input")));
        ++replayed;
      }
    }
  }
  obo::set_memory_limit(0);
  CHECK(replayed >= 9);  // the seed corpora at least
}
