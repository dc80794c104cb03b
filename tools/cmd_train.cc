// onebyone train MODEL [--solver S] [--weights CKPT] | train --resume CKPT: training with a
// checkpoint each epoch; Ctrl-C or SIGTERM writes a checkpoint and exits with status 130.
// --weights starts a new run from a checkpoint's weights (fine-tuning: an imported net, say)
// rather than from the fillers; the optimizer, schedule and position start afresh.
//
// No run replaces another's files: a new run gets a folder of its own (runs/<net>, else
// runs/<net>-2, ...; an --out that holds a run is refused), and a resumed run continues in its
// checkpoint's folder unless that would replace a different last.ckpt there, in which case it
// branches into a new folder. Everything that can be checked is checked before the first step.
// Under mpirun (framework/distributed.h), every process trains its share of each batch and only
// rank 0 claims the folder, prints and writes.
#include <sys/resource.h>
#include <unistd.h>

#include <omp.h>

#include <filesystem>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>

#include "framework/checkpoint.h"
#include "framework/distributed.h"
#include "framework/error.h"
#include "framework/io.h"
#include "framework/proto_io.h"
#include "framework/trainer.h"
#include "tools/common.h"

namespace obo::cli {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct TrainArgs {
  std::string model, solver, resume, weights, data, out;
  int epochs = 0, threads = 0;
  int64_t train_size = 0, test_size = 0;
  bool quiet = false;
  // Which of data, threads and sizes were given: a resumed run takes the others from its checkpoint.
  bool data_given = false, threads_given = false, train_size_given = false, test_size_given = false;
  bool writes = true;  // this process claims the folder, prints and writes: rank 0
};

// The progress line (on a terminal), a line per epoch and the final report.
class Console : public Reporter {
 public:
  Console(bool live, const char* held_out) : live_(live), held_out_(held_out) {}

  void step(const Progress& p) override {
    if (!live_ || (p.batch < p.batches && std::chrono::duration<double>(Clock::now() - last_).count() < 0.25)) return;
    last_ = Clock::now();
    const int width = 24, filled = static_cast<int>(width * p.batch / p.batches);
    std::cerr << fmt::format("\repoch {}/{} [{}{}] {}/{}  loss {:.4f}  acc {:.2f}%  {:.0f} img/s  ETA {}   ", p.epoch,
                             p.epochs, std::string(filled, '#'), std::string(width - filled, '.'), p.batch, p.batches,
                             p.loss, 100 * p.accuracy, p.images_per_second, duration(p.eta_seconds))
              << std::flush;
  }

  void epoch(const onebyone::EpochMetrics& m, const onebyone::Checkpoint& run) override {
    end_line();
    std::cout << fmt::format("epoch {}/{}: train loss {:.4f} acc {:.2f}% | {} loss {:.4f} acc {:.2f}% | lr {:.3g} | {} at "
                             "{:.0f} img/s\n",
                             m.epoch(), run.solver().epochs(), m.train_loss(), 100 * m.train_accuracy(), held_out_,
                             m.test_loss(), 100 * m.test_accuracy(), m.learning_rate(), duration(m.seconds()),
                             m.images_per_second())
              << std::flush;
  }

  void stopped(const onebyone::Checkpoint& run) override {
    end_line();
    std::cout << fmt::format("stopped in epoch {} at batch {} (step {})\n", run.epoch() + 1, run.batch(), run.iteration());
  }

  void finished(const TrainResult& r) override {
    std::cout << fmt::format("done: best {} accuracy {:.2f}%, last {:.2f}%, {} of training at {:.0f} img/s\n", held_out_,
                             100 * r.best_test_accuracy, 100 * r.last_test_accuracy, duration(r.seconds),
                             r.images_per_second);
    if (r.final_test)
      std::cout << fmt::format("test accuracy {:.2f}% on {} images\n", 100 * r.final_test->accuracy, r.final_test->count);
  }

 private:
  void end_line() {
    if (live_) std::cerr << "\n";
  }
  bool live_;
  const char* held_out_;
  Clock::time_point last_ = Clock::now();
};

// What changes when a resumed run is given another number of epochs, in words.
std::string extension(const onebyone::SolverParameter& before, const onebyone::SolverParameter& after,
                      int64_t steps_per_epoch, int64_t step) {
  std::vector<std::string> ignored;
  const double lr_before = learning_rate(resolve(before, steps_per_epoch, &ignored), step);
  const double lr_after = learning_rate(resolve(after, steps_per_epoch, &ignored), step);
  std::string what = fmt::format("the run goes on to {} epochs instead of {}", after.epochs(), before.epochs());
  if (after.schedule() != onebyone::SolverParameter::COSINE) return what + "; its schedule continues as it was";
  if (after.has_max_iter())
    return what + fmt::format("; the solver fixes the cosine's max_iter at {}, so the steps after it train at min_lr {}",
                              after.max_iter(), after.min_lr());
  return what + fmt::format("; the cosine schedule now decays over {} epochs, so the learning rate at step {} is {:.3g} "
                            "instead of {:.3g}",
                            after.epochs(), step, lr_after, lr_before);
}

// A resumed run reads what the run read, unless told otherwise; then it says what differs.
void take_context(TrainArgs& a, const onebyone::RunContext& was) {
  const std::string bits = "; the weights will not match an uninterrupted run's bit for bit";
  if (was.has_data_dir()) {
    if (!a.data_given && fs::is_directory(was.data_dir())) a.data = was.data_dir();
    else if (!a.data_given) warn(fmt::format("the run read its data from '{}', which is not here: reading '{}'", was.data_dir(), a.data));
    else if (!fs::exists(was.data_dir()) || !fs::equivalent(data_folder(a.data), was.data_dir()))
      warn(fmt::format("the run read its data from '{}', now from '{}'{}", was.data_dir(), a.data, bits));
  }
  auto size = [&](int64_t& value, bool given, bool recorded, int64_t was_value, const char* option) {
    if (!recorded) {  // a checkpoint written before checkpoints held the run's context
      if (!given) warn(fmt::format("the checkpoint does not say which {} its run used: using all images (give {} N if the "
                                   "run used N)", option, option));
    } else if (!given) {
      value = was_value;
    } else if (value != was_value) {
      warn(fmt::format("the run used {} {}, now {}{}", option, was_value ? std::to_string(was_value) : "(all)",
                       value ? std::to_string(value) : "(all)", bits));
    }
  };
  size(a.train_size, a.train_size_given, was.has_train_size(), was.train_size(), "--train-size");
  size(a.test_size, a.test_size_given, was.has_test_size(), was.test_size(), "--test-size");
  if (was.ranks() != process_world().size())
    warn(fmt::format("the run trained in {} process{}, now {}{}", was.ranks(), was.ranks() == 1 ? "" : "es",
                     process_world().size(), bits));
  if (was.threads() > 0) {
    if (!a.threads_given && was.threads() <= 4 * omp_get_num_procs()) a.threads = was.threads();
    else if (!a.threads_given) warn(fmt::format("the run used {} threads, too many for this machine{}", was.threads(), bits));
    else if (a.threads != was.threads()) warn(fmt::format("the run used {} threads, now {}{}", was.threads(), a.threads, bits));
  }
}

// Where a resumed run writes: its checkpoint's folder (or --out), unless a different last.ckpt
// there would be replaced; then a new numbered folder.
RunFolder resume_folder(const TrainArgs& a) {
  const fs::path given = fs::path(a.resume).parent_path();
  const fs::path own = given.empty() ? "." : given;
  if (!a.out.empty() && RunFolder::holds_run(a.out) && !(fs::exists(a.out) && fs::equivalent(a.out, own)))
    fail("--out '{}' already holds another run: choose an empty folder, or leave --out out to continue in '{}'", a.out,
         own.string());
  const std::string target = a.out.empty() ? own.string() : a.out;
  const std::string last = target + "/last.ckpt";
  if (!fs::exists(last) || fs::equivalent(last, a.resume)) return RunFolder::claim(target);
  RunFolder branch = RunFolder::claim_next(target);
  std::cout << fmt::format("{} holds a different last.ckpt than '{}': continuing in {}/ so that it is kept\n", target,
                           a.resume, branch.path());
  return branch;
}

// How a run starts, decided once: its solver, where it writes (rank 0's folder), and how its
// trainer is made and announced. Everything here is checked before any data is read.
struct Start {
  onebyone::SolverParameter solver;
  std::optional<RunFolder> folder;
  std::string path() const { return folder ? folder->path() : ""; }
  std::function<std::unique_ptr<Trainer>(const Dataset& train, const Dataset& test, const TrainerOptions& options)> make;
};

// What every run settles before it claims a folder: its data folder and its threads. (Its
// solver was checked where it was read: the solver file or the checkpoint.)
void settle(TrainArgs& a) {
  a.data = data_folder(a.data);
  apply_threads(a.threads);
}

// The weights and buffers of `checkpoint` (from `source`, --weights) into `graph`, which must
// have the same parameters by name and shape.
void take_weights(const onebyone::Checkpoint& checkpoint, const std::string& source, Graph& graph) {
  try {
    restore_params(checkpoint, graph);
  } catch (const Error& e) {
    fail("--weights '{}' does not fit the net: {}", source, e.what());
  }
}

// A new run's folder: --out, which must not hold a run, or a new runs/<net name>[-N].
RunFolder new_folder(const TrainArgs& a, const std::string& net_name) {
  if (!a.out.empty()) {
    // The lock first: a folder another run is writing into is in use, whatever it holds so far.
    RunFolder folder = RunFolder::claim(a.out);
    if (RunFolder::holds_run(a.out))
      fail("--out '{}' already holds a run: resume it with `onebyone train --resume {}/last.ckpt`, or choose another "
           "folder",
           a.out, a.out);
    return folder;
  }
  const std::string base = "runs/" + file_name_of(net_name);
  RunFolder folder = RunFolder::claim_next(base);
  if (folder.path() != base) std::cout << fmt::format("{}/ holds an earlier run: this one goes to {}/\n", base, folder.path());
  return folder;
}

// A new run: MODEL and its solver; --out, or a new runs/<net name>[-N]; with --weights, the
// weights it starts from, checked against the net here, before anything is claimed.
Start new_run(TrainArgs& a) {
  if (a.model.empty()) fail("train needs a MODEL, or --resume CKPT");
  Start s;
  const std::string source = model_path(a.model);
  const std::string solver_source = a.solver.empty() ? default_solver(source) : a.solver;
  const onebyone::NetParameter net = read_net(source);
  std::shared_ptr<const onebyone::Checkpoint> weights;
  if (!a.weights.empty()) {
    weights = std::make_shared<onebyone::Checkpoint>(load_checkpoint(a.weights));
    Graph probe(at_batch(net, 1), GraphOptions::inference());
    take_weights(*weights, a.weights, probe);
  }
  s.solver = read_solver(solver_source);
  if (a.epochs > 0) s.solver.set_epochs(a.epochs);
  settle(a);
  if (a.writes) s.folder.emplace(new_folder(a, net.name()));
  s.make = [net, solver = s.solver, folder = s.path(), source, solver_source, weights, weights_source = a.weights](
               const Dataset& train, const Dataset& test, const TrainerOptions& options) {
    auto trainer = std::make_unique<Trainer>(net, solver, train, test, options);
    if (weights) take_weights(*weights, weights_source, trainer->graph());
    std::cout << fmt::format("training '{}' ({}{}, solver {}: {} from {:g}) on {} images, testing on {}; checkpoints in {}/",
                             net.name(), source, weights ? ", from the weights in " + weights_source : "", solver_source,
                             onebyone::SolverParameter::Optimizer_Name(solver.optimizer()), solver.base_lr(),
                             train.count - solver.validation_size(), test.count, folder)
              << std::endl;
    return trainer;
  };
  return s;
}

// A resumed run: the checkpoint's net and solver (--epochs may lengthen it), the data, sizes and
// threads it recorded, and its folder (see resume_folder).
Start resumed_run(TrainArgs& a) {
  if (!a.model.empty() || !a.solver.empty() || !a.weights.empty())
    fail("--resume continues a run with its own net, solver and weights: give no MODEL, --solver or --weights");
  auto checkpoint = std::make_shared<onebyone::Checkpoint>(load_checkpoint(a.resume));
  const int previous_epochs = checkpoint->solver().epochs();
  if (a.epochs > 0) {
    if (a.epochs < checkpoint->epoch() || (a.epochs == checkpoint->epoch() && checkpoint->batch() > 0))
      fail("the run in '{}' has already trained {} epochs{}: --epochs {} would end before where it is", a.resume,
           checkpoint->epoch(), checkpoint->batch() ? fmt::format(" and {} batches", checkpoint->batch()) : "", a.epochs);
    checkpoint->mutable_solver()->set_epochs(a.epochs);
  }
  if (checkpoint->epoch() >= checkpoint->solver().epochs())
    fail("the run in '{}' is complete ({} of {} epochs): give --epochs N to train it further", a.resume,
         checkpoint->epoch(), checkpoint->solver().epochs());
  take_context(a, checkpoint->context());
  Start s;
  s.solver = checkpoint->solver();
  settle(a);
  if (a.writes) s.folder.emplace(resume_folder(a));
  s.make = [checkpoint, previous_epochs, source = a.resume, folder = s.path()](
               const Dataset& train, const Dataset& test, const TrainerOptions& options) {
    auto trainer = std::make_unique<Trainer>(*checkpoint, train, test, options);
    std::cout << fmt::format("resuming '{}' from {}: epoch {}, batch {}, step {}; checkpoints in {}/",
                             checkpoint->net().name(), source, checkpoint->epoch() + 1, checkpoint->batch(),
                             checkpoint->iteration(), folder)
              << std::endl;
    if (checkpoint->solver().epochs() != previous_epochs) {
      onebyone::SolverParameter before = checkpoint->solver();
      before.set_epochs(previous_epochs);
      std::cout << "note: " << extension(before, checkpoint->solver(), trainer->steps_per_epoch(), checkpoint->iteration())
                << "\n";
    }
    return trainer;
  };
  return s;
}

int train(TrainArgs a) {
  stop_on_signals();
  Communicator& world = process_world();
  a.writes = world.rank() == 0;
  if (!a.writes) std::cout.setstate(std::ios::badbit);  // the other ranks train and say nothing
  // The run's description, its threads and its folder first: a mistake in any costs no time.
  const Start s = a.resume.empty() ? new_run(a) : resumed_run(a);
  const Dataset train = load(a.data, "train", a.train_size), test = load(a.data, "t10k", a.test_size);
  Console console(a.writes && !a.quiet && ::isatty(STDERR_FILENO), s.solver.validation_size() > 0 ? "validation" : "test");
  std::optional<RunFiles> files;
  TrainerOptions options;
  options.reporters = {&console};
  if (a.writes) options.reporters.push_back(&files.emplace(s.path()));
  options.world = &world;
  options.stop = &g_stop;
  options.context.set_data_dir(fs::absolute(a.data).string());
  options.context.set_train_size(a.train_size);
  options.context.set_test_size(a.test_size);
  options.context.set_threads(omp_get_max_threads());
  options.context.set_ranks(world.size());
  *options.context.mutable_class_names() = {train.class_names.begin(), train.class_names.end()};
  const std::unique_ptr<Trainer> trainer = s.make(train, test, options);
  if (world.size() > 1)
    std::cout << fmt::format("{}: each takes {}{} images of every batch of {}\n", world.describe(),
                             s.solver.batch_size() / world.size(),
                             s.solver.batch_size() % world.size() ? " or " + std::to_string(s.solver.batch_size() / world.size() + 1) : "",
                             s.solver.batch_size());
  for (const std::string& notice : trainer->notices()) std::cout << "note: " << notice << "\n";
  const TrainResult result = trainer->run();
  if (result.interrupted) {
    std::cout << fmt::format("interrupted; resume with: onebyone train --resume {}/last.ckpt\n", s.path());
    return 130;
  }
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  std::cout << fmt::format("peak resident memory {:.0f} MB\n", usage.ru_maxrss / 1024.0);
  std::cout << fmt::format("metrics: {0}/metrics.csv, {0}/metrics.json; checkpoints: {0}/last.ckpt, {0}/best.ckpt\n",
                           s.path());
  return 0;
}

}  // namespace

void add_train(CLI::App& app) {
  auto args = std::make_shared<TrainArgs>();
  CLI::App* cmd = app.add_subcommand("train", "Train a model on MNIST (checkpoint each epoch; Ctrl-C checkpoints and stops)");
  cmd->add_option("model", args->model, "Model file, or the name of one in models/ (nin, lenet, ...)");
  cmd->add_option("--solver", args->solver, "Solver file (default: the model's .solver.prototxt)");
  cmd->add_option("--resume", args->resume, "Continue the run this checkpoint was taken from (in its folder)");
  cmd->add_option("--weights", args->weights,
                  "Start from this checkpoint's weights (same parameters by name and shape), not from the fillers");
  add_data_option(cmd, &args->data);
  cmd->add_option("--out", args->out, "Folder for checkpoints and metrics (default: runs/<net name>, or a new runs/<net name>-N)");
  cmd->add_option("--epochs", args->epochs, "Train this many epochs (a resumed run: in all, stretching a cosine schedule)")
      ->check(at_least(1));
  cmd->add_option("--train-size", args->train_size, "Use only the first N training images")->check(at_least(1));
  cmd->add_option("--test-size", args->test_size, "Use only the first N test images")->check(at_least(1));
  cmd->add_flag("--quiet", args->quiet, "No progress line");
  add_threads_option(cmd, &args->threads);
  cmd->callback([args, cmd] {
    TrainArgs a = *args;
    a.data_given = cmd->count("--data") > 0;
    a.threads_given = cmd->count("--threads") > 0;
    a.train_size_given = cmd->count("--train-size") > 0;
    a.test_size_given = cmd->count("--test-size") > 0;
    const int status = train(a);
    if (status != 0) throw CLI::RuntimeError(status);
  });
}

}  // namespace obo::cli
