// onebyone train MODEL [--solver S] | train --resume CKPT: training with a checkpoint each epoch;
// Ctrl-C or SIGTERM writes a checkpoint and exits with status 130.
#include <sys/resource.h>

#include <csignal>
#include <filesystem>
#include <iostream>

#include "framework/checkpoint.h"
#include "framework/error.h"
#include "framework/proto_io.h"
#include "framework/trainer.h"
#include "tools/common.h"

namespace obo::cli {
namespace {

std::atomic<bool> g_stop{false};

extern "C" void on_signal(int) { g_stop.store(true); }

struct TrainArgs {
  std::string model, solver, resume, data, out;
  int epochs = 0, threads = 0;
  int64_t train_size = 0, test_size = 0;
  bool quiet = false;
};

int train(const TrainArgs& a) {
  apply_threads(a.threads);
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  // Read the run's description first, so that a mistake in it costs no time.
  onebyone::Checkpoint checkpoint;
  onebyone::NetParameter net;
  onebyone::SolverParameter solver;
  std::string source;
  if (!a.resume.empty()) {
    checkpoint = load_checkpoint(a.resume);
    if (a.epochs > 0) checkpoint.mutable_solver()->set_epochs(a.epochs);
    net = checkpoint.net();
    solver = checkpoint.solver();
    source = a.resume;
  } else {
    if (a.model.empty()) fail("train needs a MODEL, or --resume CKPT");
    source = model_path(a.model);
    net = read_net(source);
    solver = read_solver(a.solver.empty() ? default_solver(source) : a.solver);
    if (a.epochs > 0) solver.set_epochs(a.epochs);
  }
  const Dataset train = load(a.data, "train", a.train_size), test = load(a.data, "t10k", a.test_size);
  TrainerOptions options;
  options.progress = !a.quiet;
  options.stop = &g_stop;
  options.log = &std::cout;
  options.out_dir = !a.out.empty()      ? a.out
                    : a.resume.empty() ? "runs/" + net.name()
                                       : std::filesystem::path(a.resume).parent_path().string();
  std::unique_ptr<Trainer> trainer;
  if (!a.resume.empty()) {
    std::cout << fmt::format("resuming '{}' from {}: epoch {}, batch {}, step {}", net.name(), source,
                             checkpoint.epoch() + 1, checkpoint.batch(), checkpoint.iteration())
              << std::endl;
    trainer = std::make_unique<Trainer>(checkpoint, train, test, options);
  } else {
    std::cout << fmt::format("training '{}' ({}) on {} images, testing on {}; checkpoints in {}/", net.name(), source,
                             train.count - solver.validation_size(), test.count, options.out_dir)
              << std::endl;
    trainer = std::make_unique<Trainer>(net, solver, train, test, options);
  }
  const TrainResult result = trainer->run();
  if (result.interrupted) {
    std::cout << fmt::format("interrupted; resume with: onebyone train --resume {}\n", result.checkpoint);
    return 130;
  }
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  std::cout << fmt::format("peak resident memory {:.0f} MB\n", usage.ru_maxrss / 1024.0);
  std::cout << fmt::format("metrics: {0}/metrics.csv, {0}/metrics.json; checkpoints: {0}/last.ckpt, {0}/best.ckpt\n",
                           options.out_dir);
  return 0;
}

}  // namespace

void add_train(CLI::App& app) {
  auto args = std::make_shared<TrainArgs>();
  args->data = default_data_dir();
  CLI::App* cmd = app.add_subcommand("train", "Train a model on MNIST (checkpoint each epoch; Ctrl-C checkpoints and stops)");
  cmd->add_option("model", args->model, "Model file or name in models/ (nin, nin-fc, inception, lenet)");
  cmd->add_option("--solver", args->solver, "Solver file (default: the model's .solver.prototxt)")->check(CLI::ExistingFile);
  cmd->add_option("--resume", args->resume, "Continue the run this checkpoint was taken from")->check(CLI::ExistingFile);
  cmd->add_option("--data", args->data, "Folder with the MNIST IDX files")->capture_default_str();
  cmd->add_option("--out", args->out, "Folder for checkpoints and metrics (default: runs/<net name>)");
  cmd->add_option("--epochs", args->epochs, "Override the solver's epochs")->check(CLI::PositiveNumber);
  cmd->add_option("--train-size", args->train_size, "Use only the first N training images")->check(CLI::PositiveNumber);
  cmd->add_option("--test-size", args->test_size, "Use only the first N test images")->check(CLI::PositiveNumber);
  cmd->add_flag("--quiet", args->quiet, "No progress line");
  add_threads_option(cmd, &args->threads);
  cmd->callback([args] {
    const int status = train(*args);
    if (status != 0) throw CLI::RuntimeError(status);
  });
}

}  // namespace obo::cli
