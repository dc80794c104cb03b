// Which oneDNN implementations the shipped models run. A reference implementation (`ref:`, or a
// `simple_` kernel such as pooling's `simple_nchw`) is what oneDNN falls back to when no
// optimised kernel takes the layouts it is given: correct, and tens of times slower (a max-pool
// on plain NCHW took 22 ms a call on AVX2 against under 1 ms for `jit:avx2`). Read from oneDNN's
// own verbose log of a training step and an inference pass of every model, on whatever
// instruction set oneDNN dispatches to: `./run test` runs this natively and held to AVX2.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "tests/tool.h"

namespace {

// impl -> one example "primitive,impl,propagation,shapes" line per reference implementation run.
std::map<std::string, std::string> reference_implementations(const std::string& log) {
  std::map<std::string, std::string> found;
  std::istringstream lines(log);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("onednn_verbose,exec,", 0) != 0) continue;
    std::vector<std::string> fields;
    std::istringstream parts(line);
    for (std::string f; std::getline(parts, f, ',');) fields.push_back(f);
    if (fields.size() < 10) continue;
    const std::string& impl = fields[4];  // exec,cpu,<primitive>,<implementation>,<propagation>,...
    if (impl.rfind("ref:", 0) == 0 || impl.find("simple_") != std::string::npos)
      found.emplace(impl, fields[3] + "," + impl + "," + fields[5] + "," + fields[6] + "," + fields[9]);
  }
  return found;
}

}  // namespace

TEST_CASE("no shipped model runs a reference oneDNN implementation, training or inferring", "[performance]") {
  for (const auto& entry : std::filesystem::directory_iterator(std::string(ONEBYONE_SOURCE_DIR) + "/models")) {
    const std::string path = entry.path().string();
    if (path.find(".solver.") != std::string::npos || entry.path().extension() != ".prototxt") continue;
    // A net with a loss is timed (training steps, then inference), at batch 3: odd, so that no
    // kernel is chosen for a tidy batch. The seed's reduction nets, which have none, run forward.
    std::ifstream file(path);
    const std::string text((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
    const bool trainable = text.find("SoftmaxCrossEntropy") != std::string::npos;
    const auto run = obo::test::run_tool(trainable ? fmt::format("time {} --batch 3 --iterations 1", path) : "cost " + path,
                                         "", 300, "export ONEDNN_VERBOSE=1");
    INFO(path << "\n" << run.output.substr(0, 1000));
    REQUIRE(run.status == 0);
    REQUIRE_THAT(run.output, Catch::Contains("onednn_verbose,exec,"));
    std::string listed;
    for (const auto& [impl, example] : reference_implementations(run.output)) listed += "\n  " + example;
    INFO(path << " ran reference implementations (primitive,implementation,propagation,layouts,shapes):" << listed);
    CHECK(listed.empty());
  }
}
