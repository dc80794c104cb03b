// Every layer type registered in layers/ (and by the tests) is present at run time (the linker
// dropped none), and an unknown type names the known ones.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>

#include "framework/registry.h"

namespace {

std::set<std::string> types_in_sources() {
  std::set<std::string> types;
  const std::regex pattern(R"re(REGISTER_LAYER\("([A-Za-z0-9_]+)")re");
  for (const char* dir : {ONEBYONE_SOURCE_DIR "/layers", ONEBYONE_SOURCE_DIR "/tests"}) {
    for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
      if (entry.path().extension() != ".cc" || entry.path().filename() == "registry_test.cc") continue;
      std::ifstream file(entry.path());
      const std::string text((std::istreambuf_iterator<char>(file)), {});
      for (std::sregex_iterator m(text.begin(), text.end(), pattern), end; m != end; ++m) types.insert((*m)[1]);
    }
  }
  return types;
}

}  // namespace

TEST_CASE("every layer type in the sources is registered", "[registry]") {
  const std::set<std::string> in_sources = types_in_sources();
  const auto registered = obo::registered_layer_types();
  const std::set<std::string> at_run_time(registered.begin(), registered.end());
  REQUIRE(in_sources.size() >= 14);
  CHECK(in_sources == at_run_time);
  for (const char* shipped : {"Input", "Conv", "Conv1x1", "Conv3x3", "ReLU", "MaxPool", "AvgPool",
                              "GlobalAvgPool", "Dropout", "FC", "Flatten", "Concat",
                              "SoftmaxCrossEntropy", "Accuracy"})
    CHECK(at_run_time.count(shipped) == 1);
}

TEST_CASE("an unknown layer type lists the known ones", "[registry]") {
  obo::LayerParameter p;
  p.set_name("head");
  p.set_type("Conv5x5");
  REQUIRE_THROWS_WITH(obo::create_layer(p),
                      Catch::Contains("layer 'head': unknown layer type 'Conv5x5'") &&
                          Catch::Contains("(known: Accuracy, Add, AvgPool, BatchNorm, Concat, Conv, Conv1x1, Conv3x3,"));
}
