// Checkpoints: round trip, atomic replacement, rejection of damaged files and of newer formats,
// and a checkpoint written by the first build that wrote any, which every build must still read.
#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "framework/checkpoint.h"
#include "framework/io.h"
#include "framework/optimizer.h"
#include "framework/proto_io.h"
#include "framework/trainer.h"
#include "tests/test_util.h"
#include "tests/tool.h"

using namespace obo;
using namespace obo::test;

namespace {

std::string temp_path(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() / "onebyone_checkpoint_test";
  std::filesystem::create_directories(dir);
  return (dir / name).string();
}

onebyone::Checkpoint checkpoint_of(Graph& g, int epoch) {
  onebyone::Checkpoint c;
  *c.mutable_net() = read_net(model_path("inception"));
  c.set_epoch(epoch);
  store_params(g, &c);
  return c;
}

}  // namespace

TEST_CASE("a checkpoint round-trips parameters and optimizer state", "[checkpoint]") {
  Graph g(read_net(model_path("inception")), GraphOptions::seeded(5));
  onebyone::SolverParameter solver;
  solver.set_optimizer(onebyone::SolverParameter::ADAM);
  auto opt = make_optimizer(solver, g);
  randomize_params(g, 1);
  std::fill(g.param_grads().data(), g.param_grads().data() + g.param_grads().count(), 0.25f);
  opt->step(0);
  onebyone::Checkpoint c = checkpoint_of(g, 3);
  store_tensors(opt->state(), "optimizer.", c.mutable_optimizer_state());
  const std::string path = temp_path("roundtrip.ckpt");
  save_checkpoint(path, c);

  Graph h(read_net(model_path("inception")), GraphOptions::seeded(99));
  auto opt2 = make_optimizer(solver, h);
  const onebyone::Checkpoint loaded = load_checkpoint(path);
  CHECK(loaded.epoch() == 3);
  restore_params(loaded, h);
  restore_tensors(loaded.optimizer_state(), opt2->state(), "optimizer");
  CHECK(std::equal(g.param_values().data(), g.param_values().data() + g.param_values().count(), h.param_values().data()));
  for (size_t i = 0; i < opt->state().size(); ++i) {
    const Tensor& a = *opt->state()[i];
    CHECK(std::equal(a.data(), a.data() + a.count(), opt2->state()[i]->data()));
  }
}

TEST_CASE("a crash between writing and renaming leaves the previous checkpoint loadable", "[checkpoint]") {
  Graph g(read_net(model_path("inception")), GraphOptions::seeded(5));
  const std::string path = scratch_dir("atomic") + "/atomic.ckpt";
  save_checkpoint(path, checkpoint_of(g, 1));
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    randomize_params(g, 2);
    save_checkpoint(path, checkpoint_of(g, 2), [] { _exit(3); });  // dies with the new file written, not renamed
    _exit(0);
  }
  int status = 0;
  waitpid(child, &status, 0);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 3);
  auto stale = [&] {
    int n = 0;
    for (const auto& e : std::filesystem::directory_iterator(std::filesystem::path(path).parent_path()))
      n += e.path().filename().string().rfind("atomic.ckpt.tmp-", 0) == 0;
    return n;
  };
  CHECK(stale() == 1);  // the new file, never renamed
  CHECK(load_checkpoint(path).epoch() == 1);
  save_checkpoint(path, checkpoint_of(g, 4));
  CHECK(load_checkpoint(path).epoch() == 4);
  // A run claiming the folder removes what a killed run left behind.
  { const RunFolder folder = RunFolder::claim(std::filesystem::path(path).parent_path().string()); }
  CHECK(stale() == 0);
  CHECK(load_checkpoint(path).epoch() == 4);
}

TEST_CASE("damaged checkpoints are rejected with the reason", "[checkpoint][errors]") {
  Graph g(read_net(model_path("inception")), GraphOptions::seeded(5));
  const std::string path = temp_path("damaged.ckpt");
  save_checkpoint(path, checkpoint_of(g, 1));
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  auto write = [&](const std::string& content) { std::ofstream(path, std::ios::binary | std::ios::trunc) << content; };

  write(bytes.substr(0, bytes.size() - 100));
  CHECK_THROWS_WITH(load_checkpoint(path), Catch::StartsWith("checkpoint '" + path + "' is truncated or padded"));
  std::string flipped = bytes;
  flipped[bytes.size() / 2] ^= 0x10;
  write(flipped);
  CHECK_THROWS_WITH(load_checkpoint(path), "checkpoint '" + path + "' is corrupted: its CRC-32 does not match");
  write("not a checkpoint at all");
  CHECK_THROWS_WITH(load_checkpoint(path), "'" + path + "' is not a OneByOne checkpoint (no OBOCKPT header)");
  CHECK_THROWS_WITH(load_checkpoint(path + ".missing"),
                    "cannot open checkpoint '" + path + ".missing': No such file or directory");

  write(bytes);
  Graph nin(read_net(model_path("nin")));
  CHECK_THROWS_WITH(restore_params(load_checkpoint(path), nin),
                    "checkpoint parameter 0 is 'stem.weight' (32,1,3,3), the net expects 'conv1.weight' (64,1,3,3)");
}

TEST_CASE("a checkpoint of a newer format is refused, naming the format", "[checkpoint][errors]") {
  Graph g(read_net(model_path("inception")), GraphOptions::seeded(5));
  const std::string path = temp_path("newer.ckpt");
  save_checkpoint(path, checkpoint_of(g, 1));
  std::string bytes = read_file(path, 1 << 30, "checkpoint");
  REQUIRE(bytes.substr(0, 8) == "OBOCKPT1");
  bytes[7] = '2';
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  CHECK_THROWS_WITH(load_checkpoint(path), "checkpoint '" + path +
                                               "' is in format 2, which this OneByOne does not read (it reads format 1): "
                                               "it was written by a newer OneByOne");
}

TEST_CASE("a checkpoint written by the first build that wrote checkpoints loads, tests as it did, and resumes", "[checkpoint][mnist]") {
  // tests/data/checkpoint-v1/README.md: commit 79d823b, before checkpoints held the run's context.
  const std::string dir = scratch_dir("checkpoint_v1");
  std::filesystem::copy_file(std::string(ONEBYONE_SOURCE_DIR) + "/tests/data/checkpoint-v1/last.ckpt", dir + "/last.ckpt");
  const onebyone::Checkpoint old = load_checkpoint(dir + "/last.ckpt");
  CHECK(old.net().name() == "tiny");
  CHECK(old.epoch() == 2);
  CHECK(old.iteration() == 400);
  CHECK_FALSE(old.has_context());
  CHECK(old.optimizer_state_size() == 2);  // Adam's moments
  // 237 of the first 500 test digits, as the build that wrote it measured (its metrics.json).
  Graph g = graph_from(old, GraphOptions::inference());
  const Dataset test = split_off(load_dataset(mnist_dir(), "t10k"), 500).first;
  CHECK(std::lround(evaluate(g, test, 100).accuracy * 500) == 237);
  const ToolRun tested = run_tool(fmt::format("test {}/last.ckpt --test-size 500 --data {}", dir, mnist_dir()));
  CHECK(tested.status == 0);
  CHECK_THAT(tested.output, Catch::StartsWith("test accuracy 47.40% (237 of 500)"));
  // Resumed for a third epoch; what the old file does not say (the data) is given.
  const ToolRun resumed = run_tool(fmt::format("train --resume {}/last.ckpt --epochs 3 --train-size 6400 --test-size 500 "
                                               "--data {} --quiet",
                                               dir, mnist_dir()));
  INFO(resumed.output);
  REQUIRE(resumed.status == 0);
  CHECK_THAT(resumed.output, !Catch::Contains("warning"));
  const onebyone::Checkpoint now = load_checkpoint(dir + "/last.ckpt");
  CHECK(now.epoch() == 3);
  CHECK(now.iteration() == 600);
  CHECK(now.history_size() == 3);
  CHECK(now.context().train_size() == 6400);
}

TEST_CASE("net_difference sees every parameter of every layer, and ignores only the batch", "[checkpoint]") {
  const onebyone::NetParameter nin = read_net(model_path("nin"));
  onebyone::NetParameter other_batch = nin, other_ratio = nin;
  other_batch.mutable_layer(0)->mutable_input_param()->mutable_shape(0)->set_dim(0, 7);
  CHECK(net_difference(nin, other_batch).empty());
  // A dropout ratio: no parameter's shape changes, so only the comparison can see it.
  for (auto& layer : *other_ratio.mutable_layer())
    if (layer.has_dropout()) layer.mutable_dropout()->set_ratio(0.25f);
  CHECK_THAT(net_difference(nin, other_ratio), Catch::Contains("dropout.ratio: 0.5 -> 0.25"));
}
