// Training and evaluation on a Dataset: the loop behind `onebyone train`, `test` and `compare`.
//
//   Trainer t(read_net("models/nin.prototxt"), read_solver("models/nin.solver.prototxt"), train, test, {});
//   TrainResult r = t.run();   // checkpoints and metrics in options.out_dir
//
// A run is a pure function of the net, the solver (its seed included) and the thread count: the
// data order, shifts and dropout masks are drawn from (seed, epoch, step), so resuming from a
// checkpoint gives the same weights, bit for bit, as never stopping.
#pragma once

#include <atomic>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "framework/data/dataset.h"
#include "framework/graph.h"
#include "framework/optimizer.h"
#include "onebyone.pb.h"

namespace obo {

struct TrainerOptions {
  std::string out_dir;                       // checkpoints and metrics; empty: nothing written
  bool progress = true;                      // a live progress line on stderr
  const std::atomic<bool>* stop = nullptr;   // set (by a signal): checkpoint, then return
  int64_t stop_after_steps = -1;             // stop the same way after this many steps (tests)
  std::ostream* log = nullptr;               // epoch lines and the report; null: silent
};

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
  std::string checkpoint;  // the last one written
};

// The net's conventions: the first Input layer gives images then labels; the loss layer's output
// and its scores input, and the Accuracy layer's output, are found by type.
struct NetRoles {
  std::string images, labels, scores, loss, accuracy;
};
NetRoles find_roles(Graph& graph);

// Evaluation mode over a whole data set, in batches of `batch_size` (a final partial batch
// included). The graph's batch size is restored afterwards.
Evaluation evaluate(Graph& graph, const Dataset& data, int batch_size);

// The data sets passed in are referenced, not copied: they must outlive the Trainer.
class Trainer {
 public:
  Trainer(const onebyone::NetParameter& net, const onebyone::SolverParameter& solver, const Dataset& train,
          const Dataset& test, TrainerOptions options);
  // Continues the run a checkpoint was taken from.
  Trainer(const onebyone::Checkpoint& checkpoint, const Dataset& train, const Dataset& test, TrainerOptions options);
  ~Trainer();

  TrainResult run();
  Graph& graph() { return graph_; }
  const onebyone::SolverParameter& solver() const { return solver_; }

 private:
  void prepare(const Dataset& train, const Dataset& test);
  onebyone::Checkpoint snapshot();
  std::string save(const std::string& name);
  void write_metrics() const;

  onebyone::NetParameter net_;
  onebyone::SolverParameter solver_;
  TrainerOptions options_;
  Graph graph_;
  NetRoles roles_;
  std::unique_ptr<Optimizer> optimizer_;
  Dataset split_train_, split_held_;  // only with a validation split
  const Dataset* train_ = nullptr;
  const Dataset* held_out_ = nullptr;  // the validation split, or the test set
  const Dataset* test_ = nullptr;
  onebyone::Checkpoint position_;  // epoch, batch, iteration, history, running sums
};

}  // namespace obo
