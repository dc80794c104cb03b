// The onebyone command-line tool, run as a user runs it.
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "framework/checkpoint.h"
#include "framework/data/dataset.h"
#include "tools/image_io.h"
#include "tests/test_util.h"
#include "tests/tool.h"

using namespace obo;
using obo::test::Child;
using obo::test::run_tool;
using obo::test::ToolRun;


TEST_CASE("help, and usage errors with a non-zero exit", "[cli]") {
  const ToolRun help = run_tool("--help");
  CHECK(help.status == 0);
  for (const char* cmd : {"train", "test", "predict", "summary", "time"}) CHECK_THAT(help.output, Catch::Contains(cmd));
  CHECK(run_tool("train --help").status == 0);
  const ToolRun bogus = run_tool("bogus");
  CHECK(bogus.status != 0);
  CHECK_THAT(bogus.output, Catch::Contains("error: unknown command 'bogus' (commands: train, test, predict, summary, time"));
  const ToolRun bad = run_tool("train nin --epochs -3");
  CHECK(bad.status != 0);
  CHECK_THAT(bad.output, Catch::Contains("--epochs"));
  const ToolRun missing = run_tool("summary no-such-model");
  CHECK(missing.status == 1);
  CHECK_THAT(missing.output, Catch::Contains("error: no model 'no-such-model'"));
}

TEST_CASE("summary counts parameters and FLOPs for any input size", "[cli]") {
  const ToolRun nin = run_tool("summary nin --input 1,1,28,28");
  REQUIRE(nin.status == 0);
  CHECK_THAT(nin.output, Catch::Contains("(1,10,1,1)"));
  const std::string reduction = std::string(ONEBYONE_SOURCE_DIR) + "/models/reduction.prototxt";
  const ToolRun seed = run_tool("summary " + reduction + " --input 1,50,600,600");
  REQUIRE(seed.status == 0);
  // 1,000 weights + 20 biases; 2 * 50*20*600*600 = 720 MFLOPs.
  CHECK_THAT(seed.output, Catch::Contains("(1,20,600,600)") && Catch::Contains("1020") && Catch::Contains("720.00"));
}

TEST_CASE("time --json gives each layer's forward and backward time, within the step's measured wall time, and the inference graph's layers", "[cli]") {
  const ToolRun r = run_tool("time lenet --batch 4 --iterations 2 --warmup 1 --threads 1 --json");
  REQUIRE(r.status == 0);
  const auto j = nlohmann::json::parse(r.output);
  const auto& layers = j.at("layers");
  // LeNet's layers in execution order.
  std::vector<std::string> names;
  for (const auto& layer : layers) names.push_back(layer.at("name"));
  CHECK(names == std::vector<std::string>{"data", "conv1", "pool1", "conv2", "pool2", "ip1", "relu1", "ip2", "loss", "accuracy"});
  double layers_ms = 0;
  for (const auto& layer : layers) {
    INFO(layer.dump());
    CHECK(layer.at("forward_ms").get<double>() > 0);
    CHECK(layer.at("backward_ms").get<double>() >= 0);
    layers_ms += layer.at("forward_ms").get<double>() + layer.at("backward_ms").get<double>();
  }
  // Each layer's pass is timed inside the step, apart from the others: together with the
  // update they cannot take longer than the step (counted twice, or over the warm-up, they would).
  const double step_ms = j.at("step_ms").get<double>();
  CHECK(layers_ms + j.at("update_ms").get<double>() <= step_ms);
  CHECK(j.at("train_images_per_s").get<double>() == Approx(4 / step_ms * 1e3));

  // Inference: the graph `test` runs, each layer timed within the pass.
  names.clear();
  double inference_ms = 0;
  for (const auto& layer : j.at("inference_layers")) {
    names.push_back(layer.at("name"));
    inference_ms += layer.at("ms").get<double>();
  }
  CHECK(names == std::vector<std::string>{"data", "conv1", "pool1", "conv2", "pool2", "ip1", "relu1", "ip2", "loss", "accuracy"});
  CHECK(inference_ms <= j.at("infer_ms").get<double>());
  CHECK(j.at("infer_images_per_s").get<double>() == Approx(4 / j.at("infer_ms").get<double>() * 1e3));
}

TEST_CASE("a malformed model file is reported with line and column", "[cli][errors]") {
  const std::string path = (std::filesystem::temp_directory_path() / "onebyone_bad.prototxt").string();
  std::ofstream(path) << "name: 'bad'\nlayer {\n  name: 'x'\n  type: 'ReLU'\n  inptu: 'data'\n}\n";
  const ToolRun r = run_tool("summary " + path);
  CHECK(r.status == 1);
  CHECK_THAT(r.output, Catch::StartsWith("error: " + path + ":5:") && Catch::Contains("no field named \"inptu\""));
  const std::string solver = (std::filesystem::temp_directory_path() / "onebyone_bad.solver.prototxt").string();
  std::ofstream(solver) << "base_lr: 0.1\nschedule: SOMETIMES\n";
  const ToolRun s = run_tool("train nin --solver " + solver + " --train-size 256 --test-size 100 --out /tmp/onebyone_never");
  CHECK(s.status == 1);
  // Protobuf places an unknown enum value at the token after it: here the start of line 3.
  CHECK_THAT(s.output, Catch::Contains(solver + ":3:1: ") && Catch::Contains("SOMETIMES"));
}

TEST_CASE("SIGINT during training writes a checkpoint and exits with 130", "[cli][mnist]") {
  const std::string out = (std::filesystem::temp_directory_path() / "onebyone_sigint").string();
  std::filesystem::remove_all(out);
  int pipe_fds[2];
  REQUIRE(pipe(pipe_fds) == 0);
  Child child(fork());
  REQUIRE(child.pid() >= 0);
  if (child.pid() == 0) {
    dup2(pipe_fds[1], STDOUT_FILENO);
    close(pipe_fds[0]);
    // Epochs of 10 steps, and far more of them than the test waits for.
    execl(ONEBYONE_TOOL, ONEBYONE_TOOL, "train", "lenet", "--out", out.c_str(), "--quiet", "--train-size", "640",
          "--test-size", "100", "--epochs", "100000", "--data", obo::test::mnist_dir().c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  close(pipe_fds[1]);
  // Paced by the run's own output: the interrupt comes once it has trained a whole epoch.
  std::string seen;
  char c;
  while (seen.find("\nepoch 1/") == std::string::npos && read(pipe_fds[0], &c, 1) == 1) seen += c;
  REQUIRE_THAT(seen, Catch::StartsWith("training 'lenet'") && Catch::Contains("\nepoch 1/"));
  kill(child.pid(), SIGINT);
  std::string rest;
  while (read(pipe_fds[0], &c, 1) == 1) rest += c;
  close(pipe_fds[0]);
  INFO(seen << rest);
  CHECK(child.wait() == 130);
  CHECK_THAT(rest, Catch::Contains("resume with: onebyone train --resume " + out + "/last.ckpt"));
  const onebyone::Checkpoint checkpoint = load_checkpoint(out + "/last.ckpt");
  CHECK(checkpoint.net().name() == "lenet");
  CHECK(checkpoint.epoch() >= 1);
  CHECK(checkpoint.iteration() == checkpoint.epoch() * 10 + checkpoint.batch());
}

TEST_CASE("predict classifies PGM and PNG images of any size, and test-set digits", "[cli][mnist]") {
  const std::string out = (std::filesystem::temp_directory_path() / "onebyone_predict").string();
  std::filesystem::remove_all(out);
  const ToolRun trained = run_tool(fmt::format("train lenet --train-size 6000 --test-size 500 --epochs 2 --quiet --out {} --data {}",
                                      out, obo::test::mnist_dir()));
  REQUIRE(trained.status == 0);
  const obo::Dataset test = obo::load_dataset(obo::test::mnist_dir(), "t10k");
  // Test digit 0 is a 7. Drawn dark on light at three times the size, as a person would draw it.
  const uint8_t* digit = test.pixels.data();
  std::string pgm = "P5\n# a 7\n84 84\n255\n";
  obo::cli::GrayImage png;
  png.width = png.height = 84;
  for (int y = 0; y < 84; ++y)
    for (int x = 0; x < 84; ++x) {
      const auto ink = static_cast<uint8_t>(255 - digit[(y / 3) * 28 + x / 3]);
      pgm += static_cast<char>(ink);
      png.pixels.push_back(ink);
    }
  std::ofstream(out + "/seven.pgm", std::ios::binary) << pgm;
  obo::cli::write_png(out + "/seven.png", png);
  for (const char* file : {"seven.pgm", "seven.png"}) {
    const ToolRun r = run_tool(fmt::format("predict {0}/last.ckpt {0}/{1}", out, file));
    INFO(r.output);
    REQUIRE(r.status == 0);
    CHECK_THAT(r.output, Catch::Contains("(84x84, inverted)"));
    const auto first = r.output.find('\n');
    CHECK(r.output.substr(first + 1, 5) == "  7  ");  // the top class
  }
  const ToolRun indexed = run_tool(fmt::format("predict {}/last.ckpt --index 0 --data {}", out, obo::test::mnist_dir()));
  CHECK_THAT(indexed.output, Catch::StartsWith("test image 0 (label 7)\n  7  "));
  const ToolRun garbage = run_tool(fmt::format("predict {0}/last.ckpt {0}/last.ckpt", out));
  CHECK(garbage.status == 1);
  CHECK_THAT(garbage.output, Catch::Contains("last.ckpt: neither a PNG nor an 8-bit PGM image"));
}

TEST_CASE("data sets by name: Fashion-MNIST's class names in test and predict, and an unknown name lists the known", "[cli][fashion]") {
  // Any checkpoint will do to read the names: this one was trained on MNIST digits.
  const std::string checkpoint = std::string(ONEBYONE_SOURCE_DIR) + "/tests/data/checkpoint-v1/last.ckpt";
  const ToolRun tested = run_tool("test " + checkpoint + " --data fashion-mnist --test-size 200");
  INFO(tested.output);
  REQUIRE(tested.status == 0);
  CHECK_THAT(tested.output, Catch::Contains("confusion matrix (rows: true class, columns: predicted class)"));
  CHECK_THAT(tested.output, Catch::Contains("\n0 T-shirt/top ") && Catch::Contains("\n9 Ankle boot "));
  const ToolRun predicted = run_tool("predict " + checkpoint + " --index 0 --data fashion-mnist");
  CHECK_THAT(predicted.output, Catch::StartsWith("test image 0 (label 9 Ankle boot)\n"));
  // The same by folder; MNIST's classes are their numbers.
  CHECK(run_tool("predict " + checkpoint + " --index 0 --data " + obo::test::fashion_mnist_dir()).output == predicted.output);
  CHECK_THAT(run_tool("predict " + checkpoint + " --index 0 --data mnist").output, Catch::StartsWith("test image 0 (label 7)\n"));
  const ToolRun unknown = run_tool("test " + checkpoint + " --data fasion-mnist");
  CHECK(unknown.status == 1);
  CHECK_THAT(unknown.output, Catch::Contains("error: no data set or folder 'fasion-mnist' (data sets: ") &&
                                 Catch::Contains("fashion-mnist") && Catch::Contains("mnist"));
}

TEST_CASE("train --weights starts a new run from a checkpoint's weights, and refuses weights of another net", "[cli][mnist]") {
  const std::string out = obo::test::scratch_dir("onebyone_weights");
  const std::string data = obo::test::mnist_dir();
  REQUIRE(run_tool(fmt::format("train lenet --train-size 2000 --test-size 500 --epochs 1 --quiet --out {}/first --data {}", out, data))
              .status == 0);
  const ToolRun tested = run_tool(fmt::format("test {}/first/last.ckpt --test-size 500 --data {}", out, data));
  REQUIRE(tested.status == 0);
  // With a learning rate too small to move a weight, the new run's first epoch tests as the
  // checkpoint did; from the fillers it would be near chance.
  std::ofstream(out + "/still.solver.prototxt") << "optimizer: SGD base_lr: 1e-12 batch_size: 64 epochs: 1 seed: 2";
  const ToolRun tuned = run_tool(fmt::format("train lenet --solver {0}/still.solver.prototxt --weights {0}/first/last.ckpt "
                                             "--train-size 128 --test-size 500 --quiet --out {0}/tuned --data {1}",
                                             out, data));
  INFO(tuned.output);
  REQUIRE(tuned.status == 0);
  CHECK_THAT(tuned.output, Catch::Contains("from the weights in " + out + "/first/last.ckpt"));
  const std::string accuracy = tested.output.substr(tested.output.find("accuracy "), 16);  // "accuracy 88.40% "
  CHECK_THAT(tuned.output, Catch::Contains("test " + accuracy.substr(0, accuracy.find('%') + 1)));

  // Weights of another net: refused before any folder is claimed, naming the file and the parameter.
  const ToolRun other = run_tool(fmt::format("train nin --weights {0}/first/last.ckpt --out {0}/wrong --data {1}", out, data));
  CHECK(other.status == 1);
  CHECK_THAT(other.output, Catch::Contains("--weights '" + out + "/first/last.ckpt' does not fit the net"));
  CHECK_FALSE(std::filesystem::exists(out + "/wrong"));
  const ToolRun both = run_tool(fmt::format("train --resume {0}/first/last.ckpt --weights {0}/first/last.ckpt", out));
  CHECK(both.status == 1);
  CHECK_THAT(both.output, Catch::Contains("give no MODEL, --solver or --weights"));
}
