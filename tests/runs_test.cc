// No run is ever lost: resuming, rerunning, interrupting (kill -9 included), a full disk and two
// runs in one folder all leave every checkpoint a user had loadable, and a resumed run reads what
// the run read or says what differs. Each runs the tool as a user does.
#include <catch2/catch.hpp>

#include <signal.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "framework/checkpoint.h"
#include "framework/io.h"
#include "tests/test_util.h"
#include "tests/tool.h"

using namespace obo;
using namespace obo::test;
namespace fs = std::filesystem;

namespace {

// A short LeNet run: 640 training digits (10 steps an epoch), 100 test digits.
const std::string kShort = "--train-size 640 --test-size 100 --quiet --data " + mnist_dir();

std::string bytes_of(const std::string& path) { return read_file(path, int64_t{1} << 30, "file"); }

// The parameters a checkpoint holds, as bytes: what training changes, unlike its position.
std::string params_of(const std::string& path) {
  const onebyone::Checkpoint checkpoint = load_checkpoint(path);
  std::string bytes;
  for (const auto& p : checkpoint.param()) bytes += p.SerializeAsString();
  return bytes;
}

int epochs_in_metrics(const std::string& dir) {
  return static_cast<int>(nlohmann::json::parse(bytes_of(dir + "/metrics.json"))["epochs"].size());
}

}  // namespace

TEST_CASE("a run resumed from inside its folder goes on writing there, its schedule stretched", "[runs][mnist]") {
  const std::string run = scratch_dir("resume_here") + "/run";
  REQUIRE(run_tool("train lenet --epochs 1 --out " + run + " " + kShort).status == 0);
  const std::string first = params_of(run + "/last.ckpt");
  // A bare file name, from the run's folder; data and sizes come from the checkpoint.
  const ToolRun resumed = run_tool("train --resume last.ckpt --epochs 2 --quiet", run);
  INFO(resumed.output);
  REQUIRE(resumed.status == 0);
  CHECK_THAT(resumed.output, Catch::Contains("checkpoints in ./"));
  // The cosine had reached 0 at the end of the 1-epoch run; over 2 epochs it is half way there.
  CHECK_THAT(resumed.output, Catch::Contains("note: the run goes on to 2 epochs instead of 1; the cosine schedule now "
                                             "decays over 2 epochs, so the learning rate at step 10 is 0.005 instead "
                                             "of 0"));
  const onebyone::Checkpoint last = load_checkpoint(run + "/last.ckpt");
  CHECK(last.epoch() == 2);
  CHECK(last.iteration() == 20);
  CHECK(epochs_in_metrics(run) == 2);
  CHECK(params_of(run + "/last.ckpt") != first);  // trained on, with a learning rate above 0
  // A finished run says so instead of doing nothing.
  const ToolRun again = run_tool("train --resume " + run + "/last.ckpt");
  CHECK(again.status == 1);
  CHECK_THAT(again.output, Catch::Contains("is complete (2 of 2 epochs): give --epochs N to train it further"));
}

TEST_CASE("a new run never replaces an earlier run's files", "[runs][mnist]") {
  const std::string dir = scratch_dir("no_replace");
  REQUIRE(run_tool("train lenet --epochs 1 " + kShort, dir).status == 0);
  const std::string first = bytes_of(dir + "/runs/lenet/last.ckpt");
  const ToolRun second = run_tool("train lenet --epochs 1 " + kShort, dir);
  REQUIRE(second.status == 0);
  CHECK_THAT(second.output, Catch::Contains("runs/lenet/ holds an earlier run: this one goes to runs/lenet-2/"));
  CHECK(fs::exists(dir + "/runs/lenet-2/last.ckpt"));
  const ToolRun explicit_out = run_tool("train lenet --epochs 1 --out runs/lenet " + kShort, dir);
  CHECK(explicit_out.status == 1);
  CHECK_THAT(explicit_out.output, Catch::Contains("--out 'runs/lenet' already holds a run: resume it with `onebyone "
                                                  "train --resume runs/lenet/last.ckpt`, or choose another folder"));
  // Resuming from an older checkpoint than the folder's last.ckpt branches off instead of replacing it.
  fs::copy_file(dir + "/runs/lenet/last.ckpt", dir + "/epoch1.ckpt");
  REQUIRE(run_tool("train --resume runs/lenet/last.ckpt --epochs 2", dir).status == 0);
  const std::string two_epochs = bytes_of(dir + "/runs/lenet/last.ckpt");
  fs::copy_file(dir + "/epoch1.ckpt", dir + "/runs/lenet/epoch1.ckpt");
  const ToolRun branch = run_tool("train --resume runs/lenet/epoch1.ckpt --epochs 3", dir);
  INFO(branch.output);
  REQUIRE(branch.status == 0);
  CHECK_THAT(branch.output, Catch::Contains("runs/lenet holds a different last.ckpt than 'runs/lenet/epoch1.ckpt': "
                                            "continuing in runs/lenet-3/ so that it is kept"));
  CHECK(bytes_of(dir + "/runs/lenet/last.ckpt") == two_epochs);
  CHECK(load_checkpoint(dir + "/runs/lenet-3/last.ckpt").epoch() == 3);
  CHECK(first != two_epochs);
}

TEST_CASE("kill -9 at any moment leaves every file a run wrote loadable", "[runs][mnist]") {
  const std::string dir = scratch_dir("kill9");
  const std::string run = dir + "/run", log = dir + "/log";
  // Waits until the log shows `text`; a run that never gets there (five minutes, the tool's own
  // limit in these tests) fails the test instead of letting it go on unpaced.
  auto wait_for = [&](const std::string& text) {
    for (int i = 0; i < 30000 && bytes_of(log).find(text) == std::string::npos; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    INFO(bytes_of(log));
    REQUIRE_THAT(bytes_of(log), Catch::Contains(text));
  };
  // Epochs of 20 steps and a 200-digit test pass. Odd attempts are killed at staggered moments
  // after the start; even ones once they have finished an epoch, at staggered moments of the
  // next, so that the kills land in steps, evaluations and the writing of files, and the run
  // makes progress however fast the machine is.
  const std::string sizes = "--train-size 1280 --test-size 200 --quiet --data " + mnist_dir();
  int progress_attempts = 0;
  for (int attempt = 0; attempt < 10; ++attempt) {
    const int done = fs::exists(run + "/last.ckpt") ? load_checkpoint(run + "/last.ckpt").epoch() : 0;
    const std::string args = done > 0 ? "train --resume " + run + "/last.ckpt" : "train lenet --epochs 200 --out " + run + " " + sizes;
    std::ofstream(log).close();
    Child child(start_tool(args, log));
    wait_for("checkpoints in");
    if (attempt % 2 == 0) {
      wait_for(fmt::format("epoch {}/", done + 2));  // epoch done + 1 is written: the next has begun
      ++progress_attempts;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(31 * attempt));
    kill(child.pid(), SIGKILL);
    REQUIRE(child.wait() == 128 + SIGKILL);
    INFO("attempt " << attempt << ": " << bytes_of(log));
    REQUIRE(fs::exists(run + "/last.ckpt"));  // attempt 0 finished an epoch
    const onebyone::Checkpoint last = load_checkpoint(run + "/last.ckpt");
    if (fs::exists(run + "/best.ckpt")) CHECK(load_checkpoint(run + "/best.ckpt").epoch() <= last.epoch());
    // Metrics are written after their checkpoint: at most one epoch behind it, never ahead.
    const int metrics = fs::exists(run + "/metrics.json") ? epochs_in_metrics(run) : 0;
    CHECK(metrics <= last.epoch());
    CHECK(metrics >= last.epoch() - 1);
  }
  const int done = load_checkpoint(run + "/last.ckpt").epoch();
  CHECK(done >= progress_attempts);
  // A kill between writing and renaming leaves a temporary file; the next run in the folder
  // removes it, and finishes the run.
  const ToolRun last = run_tool(fmt::format("train --resume {}/last.ckpt --epochs {}", run, done + 1));
  REQUIRE(last.status == 0);
  CHECK(load_checkpoint(run + "/last.ckpt").epoch() == done + 1);
  for (const auto& entry : fs::directory_iterator(run)) CHECK(entry.path().filename().string().find(".tmp-") == std::string::npos);
}

TEST_CASE("a full disk leaves the previous checkpoint and metrics as they were", "[runs][mnist]") {
  const std::string run = scratch_dir("full_disk") + "/run";
  REQUIRE(run_tool("train lenet --epochs 1 --out " + run + " " + kShort).status == 0);
  const std::string checkpoint = bytes_of(run + "/last.ckpt"), metrics = bytes_of(run + "/metrics.json");
  // Files of at most 100 KB: the next checkpoint (1.7 MB) cannot be written. SIGXFSZ is ignored
  // so that the write fails with an error, as on a full disk, instead of killing the process.
  const ToolRun full = run_tool("train --resume " + run + "/last.ckpt --epochs 2", "", 300, "ulimit -f 100 && trap '' XFSZ");
  CHECK(full.status == 1);
  CHECK_THAT(full.output, Catch::Contains("error: cannot write '" + run + "/last.ckpt.tmp-") &&
                              Catch::Contains("File too large"));
  CHECK(bytes_of(run + "/last.ckpt") == checkpoint);
  CHECK(bytes_of(run + "/metrics.json") == metrics);
  for (const auto& entry : fs::directory_iterator(run)) CHECK(entry.path().filename().string().find(".tmp-") == std::string::npos);
}

TEST_CASE("two runs cannot write into one folder at once", "[runs][mnist]") {
  const std::string dir = scratch_dir("two_runs");
  const std::string run = dir + "/run";
  // Far more epochs than the test lasts: the first run is still training when the second starts.
  std::ofstream(dir + "/log").close();
  Child first(start_tool("train lenet --epochs 100000 --out " + run + " " + kShort, dir + "/log"));
  // The first run claims the folder (its process number in .lock) before it loads any data, and
  // has written an epoch's checkpoint once the log shows one.
  const auto started = std::chrono::steady_clock::now();
  while (bytes_of(dir + "/log").find("epoch 1/") == std::string::npos &&
         std::chrono::steady_clock::now() - started < std::chrono::minutes(5))
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  REQUIRE_THAT(bytes_of(dir + "/log"), Catch::Contains("epoch 1/"));
  const ToolRun second = run_tool("train lenet --epochs 1 --out " + run + " " + kShort);
  CHECK(first.running());  // still running when the second was refused
  kill(first.pid(), SIGINT);
  CHECK(first.wait() == 130);
  CHECK(second.status == 1);
  // In use, not "already holds a run": a folder being written is never offered for resuming.
  CHECK_THAT(second.output, Catch::Contains("error: the run folder '" + run + "' is in use by another run (process " +
                                            std::to_string(first.pid()) + ")"));
  CHECK(load_checkpoint(run + "/last.ckpt").net().name() == "lenet");
}

TEST_CASE("a resume reads what the run read, and names what differs", "[runs][mnist]") {
  const std::string dir = scratch_dir("context");
  const std::string run = dir + "/run";
  REQUIRE(run_tool("train lenet --epochs 1 --threads 1 --out " + run + " " + kShort).status == 0);
  const onebyone::RunContext context = load_checkpoint(run + "/last.ckpt").context();
  CHECK(context.data_dir() == fs::absolute(mnist_dir()).string());
  CHECK(context.train_size() == 640);
  CHECK(context.test_size() == 100);
  CHECK(context.threads() == 1);
  fs::copy(run, dir + "/copy", fs::copy_options::recursive);
  // Nothing given: the checkpoint's data, sizes and threads, without a word.
  const ToolRun same = run_tool("train --resume " + run + "/last.ckpt --epochs 2 --quiet", dir);
  INFO(same.output);
  REQUIRE(same.status == 0);
  CHECK_THAT(same.output, !Catch::Contains("warning"));
  // Other values given: each difference is named.
  const ToolRun other = run_tool("train --resume copy/last.ckpt --epochs 2 --threads 2 --test-size 200 --quiet", dir);
  INFO(other.output);
  REQUIRE(other.status == 0);
  CHECK_THAT(other.output, Catch::Contains("warning: the run used 1 threads, now 2; the weights will not match an "
                                           "uninterrupted run's bit for bit"));
  CHECK_THAT(other.output, Catch::Contains("warning: the run used --test-size 100, now 200"));
  CHECK(load_checkpoint(dir + "/copy/last.ckpt").context().test_size() == 200);  // what it read, for the next resume
  // Another training subset: allowed where the checkpoint's position fits it, and named.
  const ToolRun train_size = run_tool("train --resume copy/last.ckpt --epochs 3 --train-size 320 --quiet", dir);
  CHECK(train_size.status == 0);
  CHECK_THAT(train_size.output, Catch::Contains("warning: the run used --train-size 640, now 320"));
}

TEST_CASE("test refuses a model file whose net is not the checkpoint's", "[runs][mnist]") {
  const std::string dir = scratch_dir("test_net");
  REQUIRE(run_tool("train lenet --epochs 1 --out " + dir + "/run " + kShort).status == 0);
  // Average instead of max pooling: the same parameter shapes, another net.
  std::string model = bytes_of(test::model_path("lenet"));
  model.replace(model.find("\"MaxPool\""), 9, "\"AvgPool\"");
  std::ofstream(dir + "/avg.prototxt") << model;
  const ToolRun wrong = run_tool(fmt::format("test {0}/avg.prototxt {0}/run/last.ckpt --test-size 100 --data {1}", dir, mnist_dir()));
  CHECK(wrong.status == 1);
  CHECK_THAT(wrong.output, Catch::Contains("error: the net in " + dir + "/avg.prototxt is not the one '" + dir +
                                           "/run/last.ckpt' was trained in (modified: layer[2].type: \"MaxPool\" -> "
                                           "\"AvgPool\")"));
  for (const std::string& args : {"lenet " + dir + "/run/last.ckpt", dir + "/run/last.ckpt"}) {
    const ToolRun ok = run_tool(fmt::format("test {} --test-size 100 --data {}", args, mnist_dir()));
    INFO(ok.output);
    CHECK(ok.status == 0);
    CHECK_THAT(ok.output, Catch::StartsWith("test accuracy"));
  }
}

TEST_CASE("mistakes in paths and options are reported before the first step", "[runs]") {
  const std::string dir = scratch_dir("early");
  std::ofstream(dir + "/a-file") << "x";
  for (const std::string& out : {dir + "/a-file/run", std::string("/proc/onebyone-run")}) {
    const ToolRun r = run_tool("train lenet --out " + out + " " + kShort);
    CHECK(r.status == 1);
    CHECK_THAT(r.output, Catch::Contains("error: cannot create the run folder '" + out + "'"));
    CHECK_THAT(r.output, !Catch::Contains("epoch"));
  }
  // Test digits of another size than the training digits.
  auto idx = [&](const std::string& name, uint32_t magic, std::vector<uint32_t> dims) {
    std::string b;
    for (uint32_t v : std::vector<uint32_t>{magic}) b += {char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
    size_t payload = 1;
    for (uint32_t d : dims) {
      b += {char(d >> 24), char(d >> 16), char(d >> 8), char(d)};
      payload *= d;
    }
    b.append(payload, '\1');
    std::ofstream(dir + "/data/" + name, std::ios::binary) << b;
  };
  fs::create_directories(dir + "/data");
  idx("train-images-idx3-ubyte", 0x803, {256, 28, 28});
  idx("train-labels-idx1-ubyte", 0x801, {256});
  idx("t10k-images-idx3-ubyte", 0x803, {64, 14, 14});
  idx("t10k-labels-idx1-ubyte", 0x801, {64});
  const ToolRun sizes = run_tool(fmt::format("train lenet --out {0}/run --data {0}/data --quiet", dir));
  CHECK(sizes.status == 1);
  CHECK_THAT(sizes.output, Catch::Contains("error: the test images are 14x14, the training images 28x28"));
  // compare draws its curves with gnuplot: its absence is found before hours of training.
  fs::create_directories(dir + "/bin");
  fs::create_symlink(shell("command -v timeout").output.substr(0, shell("command -v timeout").output.size() - 1),
                     dir + "/bin/timeout");
  const ToolRun no_gnuplot = run_tool(fmt::format("compare lenet lenet --out {}/cmp --train-sizes 640 --data {}", dir,
                                                  mnist_dir()),
                                      "", 60,
                                      "export PATH=" + dir + "/bin");
  CHECK(no_gnuplot.status == 1);
  CHECK_THAT(no_gnuplot.output, Catch::Contains("gnuplot is not installed"));
  CHECK_FALSE(fs::exists(dir + "/cmp/lenet"));
}
