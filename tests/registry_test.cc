// Every layer type registered in layers/ (and by the tests) is present at run time (the linker
// dropped none), and an unknown type names the known ones.
#include <catch2/catch.hpp>

#include "framework/registry.h"
#include "tests/test_util.h"

TEST_CASE("every layer type in the sources is registered", "[registry]") {
  std::set<std::string> in_sources = obo::test::shipped_layer_types();
  REQUIRE(in_sources.size() >= 14);
  // And the tests' own, but for those of the plugins they build, which load only on purpose.
  for (const std::string& type : obo::test::types_registered_in(ONEBYONE_SOURCE_DIR "/tests", "plugins"))
    in_sources.insert(type);
  const auto registered = obo::registered_layer_types();
  const std::set<std::string> at_run_time(registered.begin(), registered.end());
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
