// The experiments users came for: cost figures checked by hand, and `compare`, `visualize`,
// `graph` and `cost` producing what they promise.
#include <catch2/catch.hpp>

#include <libxml/parser.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "framework/checkpoint.h"
#include "tests/test_util.h"
#include "tests/tool.h"

using namespace obo;
using namespace obo::test;

namespace {

struct Cost {
  int64_t params = 0, macs = 0;  // forward multiply-adds for one image
};

Cost cost_of(const std::string& model) {
  Graph g(read_net(model_path(model)));
  g.set_batch(1);
  Cost c;
  c.params = g.param_values().count();
  c.macs = g.multiply_adds();
  return c;
}

bool has_png_signature(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  unsigned char header[8] = {};
  f.read(reinterpret_cast<char*>(header), 8);
  return png_sig_cmp(header, 0, 8) == 0;
}

}  // namespace

TEST_CASE("parameters and multiply-adds match the hand-computed figures", "[experiments]") {
  // Conv: out*in*k*k weights + out biases; out_h*out_w*out*in*k*k multiply-adds. FC: out*in + out.
  const Cost nin = cost_of("nin");
  CHECK(nin.params == (64 * 1 * 9 + 64) + 2 * (64 * 64 + 64) + (128 * 64 * 9 + 128) + 2 * (128 * 128 + 128) +
                          (128 * 128 * 9 + 128) + (128 * 128 + 128) + (10 * 128 + 10));
  CHECK(nin.params == 281226);
  CHECK(nin.macs == 28 * 28 * (64 * 1 * 9 + 2 * 64 * 64) + 14 * 14 * (128 * 64 * 9 + 2 * 128 * 128) +
                        7 * 7 * (128 * 128 * 9 + 128 * 128 + 10 * 128));
  CHECK(nin.macs == 35838208);  // 71.7 MFLOPs

  const Cost fc = cost_of("nin-fc");
  CHECK(fc.params == nin.params - (10 * 128 + 10) + (128 * 128 + 128) + (6272 * 256 + 256) + (256 * 10 + 10));
  CHECK(fc.params == 1904906);  // the FC head alone holds 1,608,458 of them
  CHECK(fc.macs == nin.macs - 7 * 7 * 10 * 128 + 7 * 7 * 128 * 128 + 6272 * 256 + 256 * 10);

  const Cost inception = cost_of("inception");
  CHECK(inception.params == (32 * 9 + 32) + (16 * 32 + 16) + (16 * 32 + 16) + (24 * 16 * 9 + 24) + (8 * 32 + 8) +
                                2 * (8 * 8 * 9 + 8) + (8 * 32 + 8) + (10 * 56 + 10));
  CHECK(inception.params == 7122);
  CHECK(inception.macs == 28 * 28 * 32 * 9 +
                              14 * 14 * (16 * 32 + 16 * 32 + 24 * 16 * 9 + 8 * 32 + 2 * 8 * 8 * 9 + 8 * 32) +
                              7 * 7 * 10 * 56);

  const Cost plain = cost_of("inception-noreduce");
  CHECK(plain.params == inception.params - (16 * 32 + 16) - (8 * 32 + 8) - (24 * 16 * 9 + 24) - (8 * 8 * 9 + 8) +
                            (24 * 32 * 9 + 24) + (8 * 32 * 9 + 8));
  CHECK(plain.macs == inception.macs + 14 * 14 * (24 * 32 * 9 + 8 * 32 * 9 - 16 * 32 - 24 * 16 * 9 - 8 * 32 - 8 * 8 * 9));
  CHECK(plain.macs > inception.macs * 3 / 2);  // the reductions save a third of the block's work
}

TEST_CASE("compare prints the table and writes CSV, JSON, PNG and SVG", "[experiments][mnist]") {
  const std::string out = scratch_dir("compare");
  std::ofstream(out + "/short.solver.prototxt")
      << "optimizer: ADAM base_lr: 0.003 schedule: COSINE warmup_iter: 5 batch_size: 64 epochs: 2 augment_shift: 2\n";
  const ToolRun r = run_tool(fmt::format("compare inception inception-noreduce --solver {0}/short.solver.prototxt "
                                        "--train-sizes 2000 --test-size 500 --seeds 2 --out {0} --data {1}",
                                        out, mnist_dir()));
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK_THAT(r.output, Catch::Contains("final test %") && Catch::Contains("inception-noreduce"));
  std::ifstream csv(out + "/summary.csv");
  std::string header, row;
  std::getline(csv, header);
  std::getline(csv, row);
  CHECK_THAT(header, Catch::StartsWith("model,shift,train_size,parameters,mflops_per_image,epochs,steps,"));
  CHECK_THAT(row, Catch::StartsWith("inception,2,2000,7122,2.915,2,62,"));  // 2 * 1,457,456 multiply-adds; 2 epochs of 31 steps
  for (const char* f : {"summary.json", "curves.png", "curves.svg"}) CHECK(std::filesystem::exists(out + "/" + f));
  CHECK(has_png_signature(out + "/curves.png"));
  CHECK(png_size(out + "/curves.png") == std::pair<uint32_t, uint32_t>{1500, 480});
  xmlDocPtr svg = xmlReadFile((out + "/curves.svg").c_str(), nullptr, XML_PARSE_NONET | XML_PARSE_NOERROR);
  REQUIRE(svg != nullptr);
  CHECK(std::string(reinterpret_cast<const char*>(xmlDocGetRootElement(svg)->name)) == "svg");
  xmlFreeDoc(svg);
}

TEST_CASE("visualize draws one grid cell per channel beside the digit", "[experiments][mnist]") {
  const std::string out = scratch_dir("visualize");
  Graph g(read_net(model_path("nin")), GraphOptions::seeded(1));
  onebyone::Checkpoint c;
  *c.mutable_net() = read_net(model_path("nin"));
  store_params(g, &c);
  save_checkpoint(out + "/nin.ckpt", c);
  // cccp1: 64 maps of 28x28 -> an 8x8 grid of 84x84 cells 2 px apart, after the 84x84 digit and
  // an 8 px margin: 84 + 8 + 8 * 86 = 780 wide, 8 * 86 - 2 = 686 high.
  REQUIRE(run_tool(fmt::format("visualize {0}/nin.ckpt --layer cccp1 --digit 3 --out {0}/a.png --data {1}", out,
                               mnist_dir()))
              .status == 0);
  CHECK(png_size(out + "/a.png") == std::pair<uint32_t, uint32_t>{780, 686});
  // pool2: 128 maps of 7x7 -> 12 columns, 11 rows of 84x84 cells: 84 + 8 + 12 * 86 = 1124 by 944.
  REQUIRE(run_tool(fmt::format("visualize {0}/nin.ckpt --layer pool2 --digit 3 --out {0}/b.png --data {1}", out,
                               mnist_dir()))
              .status == 0);
  CHECK(png_size(out + "/b.png") == std::pair<uint32_t, uint32_t>{1124, 944});
  const ToolRun bad = run_tool(fmt::format("visualize {0}/nin.ckpt --layer nope --data {1}", out, mnist_dir()));
  CHECK(bad.status == 1);
  CHECK_THAT(bad.output, Catch::Contains("no blob 'nope' in 'nin' (blobs: accuracy, cccp1,"));
}

TEST_CASE("graph writes DOT with the shapes on the edges", "[experiments]") {
  const ToolRun r = run_tool("graph inception");
  REQUIRE(r.status == 0);
  const std::string& dot = r.output;
  CHECK_THAT(dot, Catch::StartsWith("digraph \"inception\" {"));
  // stem_pool feeds the four branches; the concat gathers 16 + 24 + 8 + 8 channels.
  CHECK_THAT(dot, Catch::Contains("stem_pool\\nMaxPool") && Catch::Contains("block\\nConcat") &&
                      Catch::Contains("label=\" (32,14,14)\"") && Catch::Contains("label=\" (56,14,14)\"") &&
                      Catch::Contains("b2_3x3\\nConv3x3+ReLU"));

  // A concatenation that several layers absorbed is one node, with an edge into each of them.
  const std::string file = scratch_dir("graph") + "/readers.prototxt";
  std::ofstream(file) << R"(name: "readers"
    layer { name: "in" type: "Input" output: "x" input_param { shape { dim: 1 dim: 8 dim: 6 dim: 6 } } }
    layer { name: "a" type: "Conv1x1" input: "x" output: "a" conv { num_output: 8 } }
    layer { name: "cat" type: "Concat" input: "a" input: "x" output: "j" }
    layer { name: "p" type: "MaxPool" input: "j" output: "p" pool { kernel_size: 2 } }
    layer { name: "c" type: "Conv1x1" input: "j" output: "c" conv { num_output: 4 } })";
  const ToolRun readers = run_tool("graph " + file);
  INFO(readers.output);
  REQUIRE(readers.status == 0);
  CHECK_THAT(readers.output, Catch::Contains("  C2 [label=\"cat\\nConcat, fused into p, c\", style=\"rounded,dashed\"];\n"
                                             "  C2 -> L2 [label=\" (16,6,6)\"];\n"));
  CHECK_THAT(readers.output, Catch::Contains("  C2 -> L3 [label=\" (16,6,6)\"];\n"));
  const auto occurrences = [&](const std::string& what) {
    size_t n = 0;
    for (size_t at = readers.output.find(what); at != std::string::npos; at = readers.output.find(what, at + 1)) ++n;
    return n;
  };
  CHECK(occurrences("Concat, fused into") == 1);
  CHECK(occurrences(" -> ") == 5);  // in -> a; a, in -> the join; the join -> p, c
}

TEST_CASE("cost sets the seed's 1x1, 3x3 and 5x5 reductions side by side", "[experiments]") {
  const ToolRun r = run_tool("cost reduction reduction-3x3 reduction-5x5 --iterations 1");
  INFO(r.output);
  REQUIRE(r.status == 0);
  const std::string& text = r.output;
  // weights + biases; 600*600*20*50*k*k multiply-adds
  CHECK_THAT(text, Catch::Contains("1020") && Catch::Contains("360000000"));
  CHECK_THAT(text, Catch::Contains("9020") && Catch::Contains("3240000000"));
  CHECK_THAT(text, Catch::Contains("25020") && Catch::Contains("9000000000"));
}
