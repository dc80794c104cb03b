// No input crashes the tool: every file and value a user can hand it gets a clear error naming
// the file (and line, field or layer), never a crash, a hang or a giant allocation.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>

#include "framework/checkpoint.h"
#include "framework/data/idx.h"
#include "framework/io.h"
#include "tests/test_util.h"
#include "tests/tool.h"
#include "tools/image_io.h"

using namespace obo;
using namespace obo::test;
namespace fs = std::filesystem;

namespace {

const std::string kShort = "--train-size 640 --test-size 100 --quiet --data " + mnist_dir();

std::string write(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

std::string big_endian(uint32_t v) { return {char(v >> 24), char(v >> 16), char(v >> 8), char(v)}; }

// A PNG whose header claims width x height, then an empty IDAT chunk: no pixel data at all.
std::string png_header(uint32_t width, uint32_t height) {
  auto chunk = [](const std::string& type_and_data) {
    const uint32_t crc = static_cast<uint32_t>(
        crc32(0, reinterpret_cast<const Bytef*>(type_and_data.data()), static_cast<uInt>(type_and_data.size())));
    return big_endian(static_cast<uint32_t>(type_and_data.size() - 4)) + type_and_data + big_endian(crc);
  };
  return std::string("\x89PNG\r\n\x1a\n", 8) +
         chunk("IHDR" + big_endian(width) + big_endian(height) + std::string("\x08\x00\x00\x00\x00", 5)) + chunk("IDAT");
}

}  // namespace

TEST_CASE("sizes that overflow or would not fit are refused before anything is allocated", "[errors]") {
  const std::string dir = scratch_dir("sizes");
  // A batch whose activations would take petabytes: refused with the estimate.
  const ToolRun huge_batch = run_tool("summary nin --input 100000000,1,28,28");
  CHECK(huge_batch.status == 1);
  CHECK_THAT(huge_batch.output, Catch::StartsWith("error: the net needs about ") &&
                                    Catch::Contains("more than the") && Catch::Contains("lower the batch or the input size"));
  const ToolRun time_batch = run_tool("time nin --batch 50000000");
  CHECK(time_batch.status == 1);
  CHECK_THAT(time_batch.output, Catch::StartsWith("error: the net needs about "));
  // Dimensions whose product overflows, and a layer whose parameters would not fit.
  CHECK_THROWS_WITH(Graph(parse_net("layer { name: 'in' type: 'Input' output: 'x' input_param { shape { dim: 1099511627776 "
                                    "dim: 1099511627776 dim: 4 } } }")),
                    "layer 'in' (Input): output 'x': shape (1099511627776,1099511627776,4) has more than 2^61 elements");
  CHECK_THROWS_WITH(Graph(parse_net("layer { name: 'in' type: 'Input' output: 'x' input_param { shape { dim: 1 dim: 64 dim: 8 "
                                    "dim: 8 } } }\n layer { name: 'c' type: 'Conv3x3' input: 'x' output: 'y' conv { "
                                    "num_output: 2000000000 } }")),
                    Catch::StartsWith("the net needs about ") && Catch::Contains("parameters with their gradients"));
  // Headers that promise more than can be.
  const std::string idx = write(dir + "/idx", big_endian(0x803) + big_endian(0xffffffff) + big_endian(0xffffffff) +
                                                  big_endian(0xffffffff));
  CHECK_THROWS_WITH(read_idx_images(idx), idx + ": the header's dimensions promise more than 4294967296 bytes");
  CHECK_THROWS_WITH(cli::read_image(write(dir + "/big.pgm", "P5\n100000 100000\n255\n\x01\x02")),
                    dir + "/big.pgm: a 100000x100000 image; images must be 1 to 8192 pixels on each side");
  CHECK_THROWS_WITH(cli::read_image(write(dir + "/big.png", png_header(20000, 3))),
                    dir + "/big.png: a 20000x3 image; images must be 1 to 8192 pixels on each side");
  CHECK_THROWS_WITH(cli::read_image(write(dir + "/huge.png", png_header(1u << 30, 3))),
                    dir + "/huge.png: Invalid IHDR data");  // beyond libpng's own limit of a million
  CHECK_THROWS_WITH(cli::read_image(write(dir + "/p2.pgm", "P2\n2 1\n255\n7 x\n")),
                    dir + "/p2.pgm: malformed PGM: a pixel is 'x', not a number");
}

TEST_CASE("degenerate nets and impossible values are refused by name", "[errors]") {
  CHECK_THROWS_WITH(Graph(parse_net("name: 'empty'")), "the net 'empty' has no layers");
  CHECK_THROWS_WITH(Graph(parse_net("layer { name: 'in' type: 'Input' output: 'x' input_param { shape { } } }")),
                    "layer 'in' (Input): shape 0 (of 'x') has no dimensions");
  CHECK_THROWS_WITH(Graph(parse_net("layer { name: 'in' type: 'Input' output: 'x' output: 'y' input_param { shape { dim: 1 } } }")),
                    "layer 'in' (Input): gives 1 shapes for 2 outputs");
  const std::string input = "layer { name: 'in' type: 'Input' output: 'x' input_param { shape { dim: 1 dim: 3 dim: 4 dim: 4 } } }\n";
  CHECK_THROWS_WITH(Graph(parse_net(input + "layer { name: 'c' type: 'Conv1x1' input: 'x' output: 'y' conv { num_output: 2 "
                                            "weight_filler { type: GAUSSIAN std: nan } } }")),
                    "layer 'c' (Conv1x1): the filler of c.weight needs a finite std >= 0 and a finite value, got std nan "
                    "and value 0");
  CHECK_THROWS_WITH(Graph(parse_net(input + "layer { name: 'c' type: 'Conv1x1' input: 'x' output: 'y' param { lr_mult: -1 } "
                                            "conv { num_output: 2 } }")),
                    "layer 'c' (Conv1x1): param 0 (c.weight) needs finite lr_mult and decay_mult >= 0, got -1 and 1");
  CHECK_THROWS_WITH(Graph(parse_net(input + "layer { name: 'd' type: 'Dropout' input: 'x' output: 'y' dropout { ratio: nan } }")),
                    "layer 'd' (Dropout): dropout.ratio must be in [0, 1), got nan");
  // A solver file the tool is given: refused before any data is read or folder made.
  const std::string dir = scratch_dir("bad_solver");
  write(dir + "/nan.solver.prototxt", "base_lr: nan\n");
  const ToolRun nan = run_tool(fmt::format("train lenet --solver {0}/nan.solver.prototxt --out {0}/run {1}", dir, kShort));
  CHECK(nan.status == 1);
  CHECK_THAT(nan.output, Catch::Contains(fmt::format("error: solver file '{}/nan.solver.prototxt': base_lr must be positive, got nan", dir)));
  CHECK_FALSE(fs::exists(dir + "/run"));
}

TEST_CASE("crafted checkpoints with a valid checksum are refused", "[errors][mnist]") {
  const std::string dir = scratch_dir("crafted");
  REQUIRE(run_tool(fmt::format("train lenet --epochs 1 --out {}/run {}", dir, kShort)).status == 0);
  const onebyone::Checkpoint good = load_checkpoint(dir + "/run/last.ckpt");
  struct Craft {
    const char* what;
    std::function<void(onebyone::Checkpoint&)> change;
    std::string error;
  };
  const std::vector<Craft> crafts = {
      {"a negative position", [](auto& c) { c.set_epoch(-1); c.clear_history(); },
       "the checkpoint's position is impossible (epoch -1, batch 0, step 10, 0 images seen)"},
      {"a batch past the epoch", [](auto& c) { c.set_batch(500); },
       "the checkpoint stopped at batch 500 of an epoch, but an epoch here has 10 batches"},
      {"history and epochs that disagree", [](auto& c) { c.clear_history(); },
       "the checkpoint has completed 1 epochs but holds metrics for 0"},
      {"a parameter of another shape", [](auto& c) { c.mutable_param(0)->set_shape(3, 4); },
       "checkpoint parameter 0 is 'conv1.weight' (20,1,5,4), the net expects 'conv1.weight' (20,1,5,5)"},
      {"a weight that is not finite", [](auto& c) { c.mutable_param(2)->set_data(3, NAN); },
       "checkpoint parameter 'conv2.weight' holds nan at index 3: not a usable checkpoint"},
      {"optimizer state missing", [](auto& c) { c.clear_optimizer_state(); },
       "the checkpoint holds 0 optimizer tensors, expected 1"},
      {"a net with no layers", [](auto& c) { c.mutable_net()->clear_layer(); }, "the net 'lenet' has no layers"},
      {"a solver with a zero batch", [](auto& c) { c.mutable_solver()->set_batch_size(0); },
       "checkpoint '" + dir + "/crafted-7.ckpt': solver: batch_size must be positive, got 0"},
  };
  for (const Craft& craft : crafts) {
    INFO(craft.what);
    onebyone::Checkpoint c = good;
    craft.change(c);
    const std::string path = fmt::format("{}/crafted-{}.ckpt", dir, &craft - crafts.data());
    save_checkpoint(path, c);
    const ToolRun r = run_tool(fmt::format("train --resume {} --epochs 2 --out {}/out", path, dir));
    CHECK(r.status == 1);
    CHECK_THAT(r.output, Catch::Contains("error: " + craft.error));
  }
}

TEST_CASE("FIFOs, devices and folders named as files are refused, never waited on", "[errors][mnist]") {
  const std::string dir = scratch_dir("not_files");
  REQUIRE(mkfifo((dir + "/fifo").c_str(), 0644) == 0);
  REQUIRE(run_tool(fmt::format("train lenet --epochs 1 --out {}/run {}", dir, kShort)).status == 0);
  fs::create_directories(dir + "/data");
  for (const char* f : {"train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"})
    fs::copy_file(mnist_dir() + "/" + f, dir + "/data/" + f);
  REQUIRE(mkfifo((dir + "/data/train-images-idx3-ubyte").c_str(), 0644) == 0);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"summary " + dir + "/fifo", "model file '" + dir + "/fifo' is a FIFO, not a file"},
      {fmt::format("train lenet --solver {0}/fifo --out {0}/x", dir), "solver file '" + dir + "/fifo' is a FIFO, not a file"},
      {"train --resume " + dir + "/fifo", "checkpoint '" + dir + "/fifo' is a FIFO, not a file"},
      {fmt::format("predict {0}/run/last.ckpt {0}/fifo", dir), "image '" + dir + "/fifo' is a FIFO, not a file"},
      {fmt::format("train lenet --out {0}/y --data {0}/data", dir),
       "IDX file '" + dir + "/data/train-images-idx3-ubyte' is a FIFO, not a file"},
      {"train --resume /dev/zero", "checkpoint '/dev/zero' is a device, not a file"},
      {fmt::format("predict {}/run/last.ckpt /dev/urandom", dir), "image '/dev/urandom' is a device, not a file"},
      {"train --resume " + dir, "checkpoint '" + dir + "' is a folder, not a file"},
  };
  for (const auto& [args, error] : cases) {
    const ToolRun r = run_tool(args, "", 20);
    INFO(args << "\n" << r.output);
    CHECK(r.status == 1);
    CHECK_THAT(r.output, Catch::Contains("error: " + error));
  }
}

TEST_CASE("a thread count beyond what makes sense is refused", "[errors]") {
  const ToolRun r = run_tool("time lenet --threads 100000 --iterations 1");
  CHECK(r.status == 1);
  CHECK_THAT(r.output, Catch::StartsWith("error: --threads 100000 is more than four per processor"));
}

TEST_CASE("cost and summary work on every shipped model", "[errors]") {
  for (const auto& entry : fs::directory_iterator(std::string(ONEBYONE_SOURCE_DIR) + "/models")) {
    const std::string name = entry.path().filename().string();
    if (name.find(".solver.") != std::string::npos) continue;
    INFO(name);
    const ToolRun summary = run_tool("summary " + entry.path().string());
    CHECK(summary.status == 0);
    const ToolRun cost = run_tool("cost " + entry.path().string() + " --iterations 1");
    CHECK(cost.status == 0);
    CHECK_THAT(cost.output, !Catch::Contains("error"));
  }
}

TEST_CASE("every shipped solver runs a short run, a long warm-up clamped with a notice", "[errors][mnist]") {
  const std::string dir = scratch_dir("solvers");
  for (const auto& entry : fs::directory_iterator(std::string(ONEBYONE_SOURCE_DIR) + "/models")) {
    const std::string name = entry.path().filename().string();
    const auto at = name.find(".solver.prototxt");
    if (at == std::string::npos) continue;
    const std::string model = fs::exists(entry.path().parent_path() / (name.substr(0, at) + ".prototxt")) ? name.substr(0, at)
                                                                                                       : "inception";
    INFO(name << " with " << model);
    const ToolRun r = run_tool(fmt::format("train {} --solver {} --epochs 1 --train-size 512 --test-size 100 --quiet "
                                           "--out {}/{} --data {}",
                                           model, entry.path().string(), dir, name, mnist_dir()));
    INFO(r.output);
    CHECK(r.status == 0);
    if (name == "nin.solver.prototxt")
      CHECK_THAT(r.output, Catch::Contains("note: solver: warmup_iter 700 is longer than half of this 4-step run; "
                                           "warming up over 2 steps"));
  }
}
