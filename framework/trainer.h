// Training and evaluation on a Dataset: the loop behind `onebyone train`, `test` and `compare`.
//
//   RunFiles files(folder.path());                     // last.ckpt, best.ckpt, metrics
//   Trainer t(net, solver, train, test, {.reporters = {&files}});
//   TrainResult r = t.run();
//
// A run is a pure function of the net, the solver (its seed included) and the thread count: the
// data order, shifts and dropout masks are drawn from (seed, epoch, step), so resuming from a
// checkpoint gives the same weights, bit for bit, as never stopping. The trainer prints and
// writes nothing itself: it tells its reporters (a progress line, the run's files) what happened.
//
// Across processes (TrainerOptions::world, framework/distributed.h), every rank runs the same
// steps on its share of each global batch of solver.batch_size images: the gradients of the
// batch's mean loss are summed across ranks in one call a step, so that every rank takes the
// same update, and the data order, shifts and dropout masks are those of one process. BatchNorm
// normalises by each rank's share (its running statistics are averaged across ranks whenever the
// run is saved); evaluation is split across ranks and summed.
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "framework/data/dataset.h"
#include "framework/distributed.h"
#include "framework/graph.h"
#include "framework/optimizer.h"
#include "onebyone.pb.h"

namespace obo {

struct Evaluation {
  double loss = 0, accuracy = 0;
  int64_t count = 0;
  std::vector<int64_t> confusion;  // classes x classes, [label * classes + predicted]
};

struct TrainResult {
  bool interrupted = false;
  std::vector<onebyone::EpochMetrics> history;
  double best_test_accuracy = 0, last_test_accuracy = 0;
  double seconds = 0, images_per_second = 0;
  std::optional<Evaluation> final_test;  // with a validation split: the test set, after the last epoch
};

// Where a run is within an epoch, after a step: the epoch's running means so far.
struct Progress {
  int epoch = 0, epochs = 0;  // 1-based
  int64_t batch = 0, batches = 0;
  double loss = 0, accuracy = 0, images_per_second = 0;
  double eta_seconds = 0;  // for the rest of the epoch
};

// What a run tells its caller, as it happens. Every method may throw: the run then stops with
// that error (a checkpoint that cannot be written ends the run, never passes silently).
class Reporter {
 public:
  virtual ~Reporter() = default;
  virtual void step(const Progress& progress) { (void)progress; }
  // After an epoch and its evaluation. `run` is the whole run at this point (weights, optimizer
  // state, position, history): what a checkpoint holds.
  virtual void epoch(const onebyone::EpochMetrics& metrics, const onebyone::Checkpoint& run) {
    (void)metrics;
    (void)run;
  }
  // A stop was requested within an epoch; `run` is the position to resume from.
  virtual void stopped(const onebyone::Checkpoint& run) { (void)run; }
  virtual void finished(const TrainResult& result) { (void)result; }
};

// A run's files in its folder: last.ckpt after every epoch and at a stop, best.ckpt (a link to
// it) when the held-out accuracy is the best so far, metrics.csv and metrics.json. Each is
// replaced atomically, the checkpoint first. Weights that are not finite are never saved: that
// is an error naming the parameter, and the files already there stay as they were.
class RunFiles : public Reporter {
 public:
  explicit RunFiles(std::string folder) : folder_(std::move(folder)) {}
  void epoch(const onebyone::EpochMetrics& metrics, const onebyone::Checkpoint& run) override;
  void stopped(const onebyone::Checkpoint& run) override;
  std::string last() const { return folder_ + "/last.ckpt"; }

 private:
  void save(const onebyone::Checkpoint& run) const;
  std::string folder_;
};

struct TrainerOptions {
  std::vector<Reporter*> reporters;
  const std::atomic<bool>* stop = nullptr;  // set (by a signal): report stopped(), then return
  int64_t stop_after_steps = -1;            // stop the same way after this many steps (tests)
  onebyone::RunContext context;             // recorded in every checkpoint (data, subsets, threads)
  Communicator* world = &single_process();  // the processes that share each batch
};

// The net's conventions: the first Input layer gives images then labels; the first loss layer
// gives the loss and, as its first input, the class scores; the first metric layer gives the
// accuracy. Each is found by asking the layers their role.
struct NetRoles {
  std::string images, labels, scores, loss, accuracy;
};
NetRoles find_roles(Graph& graph);

// Evaluation mode over a whole data set, in batches of `batch_size` (a final partial batch
// included), each rank of `world` taking its share of the images; every rank gets the whole
// set's figures. The graph's batch size is restored afterwards.
Evaluation evaluate(Graph& graph, const Dataset& data, int batch_size, Communicator& world = single_process());

// The data sets passed in are referenced, not copied: they must outlive the Trainer. Everything
// a run could trip over later (the solver's values, the data's image sizes, a checkpoint's
// position) is checked by the constructors, before the first step.
class Trainer {
 public:
  Trainer(const onebyone::NetParameter& net, const onebyone::SolverParameter& solver, const Dataset& train,
          const Dataset& test, TrainerOptions options);
  // Continues the run a checkpoint was taken from (with its solver, which may ask for more epochs).
  Trainer(const onebyone::Checkpoint& checkpoint, const Dataset& train, const Dataset& test, TrainerOptions options);
  ~Trainer();

  TrainResult run();
  // The run as a checkpoint holds it: weights, optimizer state, position, history.
  onebyone::Checkpoint snapshot();

  Graph& graph() { return graph_; }
  const onebyone::SolverParameter& solver() const { return solver_; }  // as resolved for this run
  int64_t steps_per_epoch() const { return steps_per_epoch_; }
  // What the solver's resolution changed for this run (a warm-up clamped to a short run), to be
  // told to the user.
  const std::vector<std::string>& notices() const { return notices_; }

 private:
  void prepare(const onebyone::SolverParameter& solver, const Dataset& train, const Dataset& test);
  void check_position() const;
  bool stop_requested(int64_t steps_this_run) const;
  void average_buffers();
  void step(int epoch, int64_t batch, const std::vector<int64_t>& order);
  void end_epoch(int epoch);
  TrainResult result(bool interrupted);
  std::string diagnose_divergence(const Context& ctx);

  onebyone::NetParameter net_;
  onebyone::SolverParameter written_;  // as the user wrote it: what checkpoints keep
  onebyone::SolverParameter solver_;   // resolved for this run's length
  TrainerOptions options_;
  Graph graph_;
  NetRoles roles_;
  std::unique_ptr<Optimizer> optimizer_;
  Dataset split_train_, split_held_;  // only with a validation split
  const Dataset* train_ = nullptr;
  const Dataset* held_out_ = nullptr;  // the validation split, or the test set
  const Dataset* test_ = nullptr;
  int64_t steps_per_epoch_ = 0;
  Share share_;  // of each global batch, this rank's
  std::vector<std::string> notices_;
  onebyone::Checkpoint position_;  // epoch, batch, iteration, history, running sums
};

}  // namespace obo
