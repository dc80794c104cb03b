// The C++ API builds the same nets as the model files.
#include <catch2/catch.hpp>

#include <google/protobuf/util/message_differencer.h>

#include "framework/net_builder.h"
#include "tests/test_util.h"

using namespace obo;
using namespace obo::test;

TEST_CASE("inception built in code equals models/inception.prototxt", "[builder]") {
  const onebyone::NetParameter code = inception_net(), file = read_net(model_path("inception"));
  std::string differences;
  google::protobuf::util::MessageDifferencer diff;
  diff.ReportDifferencesToString(&differences);
  CHECK(diff.Compare(code, file));
  INFO(differences);
  CHECK(differences.empty());

  // Same description, same seed: the same graph, parameter for parameter and output for output.
  Graph a(code, GraphOptions::seeded(4)), b(file, GraphOptions::seeded(4));
  a.set_batch(3);
  b.set_batch(3);
  REQUIRE(a.param_values().count() == b.param_values().count());
  CHECK(std::equal(a.param_values().data(), a.param_values().data() + a.param_values().count(), b.param_values().data()));
  randomize_inputs(a, 2);
  b.value("data").assign_plain(a.value("data").to_plain());
  std::fill(a.value("label").data(), a.value("label").data() + 3, 1.f);
  std::fill(b.value("label").data(), b.value("label").data() + 3, 1.f);
  a.forward(Context::evaluation());
  b.forward(Context::evaluation());
  CHECK(a.value("loss").data()[0] == b.value("loss").data()[0]);
}

TEST_CASE("a two-block Inception net builds and keeps its shapes", "[builder]") {
  NetBuilder b("inception2");
  const auto [data, label] = b.input({2, 1, 28, 28});
  std::string x = b.max_pool("stem_pool", b.relu("stem_relu", b.conv3x3("stem", data, 32), "stem_relu"), 2);
  x = inception_block(b, "inc1_", x);                                  // (N,56,14,14)
  x = inception_block(b, "inc2_", x, {32, 32, 48, 16, 16, 16});         // (N,112,14,14)
  b.classifier(b.global_avg_pool("gap", b.conv1x1("classes", x, 10), "score"), label);
  Graph g(b.net(), GraphOptions::seeded(1).unfused());  // every blob kept
  CHECK(g.value("inc1_block").shape() == Shape{2, 56, 14, 14});
  CHECK(g.value("inc2_block").shape() == Shape{2, 112, 14, 14});
  CHECK(g.value("score").shape() == Shape{2, 10, 1, 1});
  // Fused, each join goes into its readers (the second block's four branches; the 1x1
  // convolution after it), and is never stored.
  const Graph fused(b.net());
  CHECK_FALSE(fused.has_blob("inc1_block"));
  CHECK_FALSE(fused.has_blob("inc2_block"));
}
