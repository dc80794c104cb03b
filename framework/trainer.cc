#include "framework/trainer.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <tuple>

#include "framework/checkpoint.h"
#include "framework/error.h"
#include "framework/io.h"
#include "framework/records.h"

namespace obo {
namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// The first element of t (in storage order) that is not finite, or -1.
int64_t first_non_finite(const Tensor& t) {
  for (size_t i = 0; i < t.size(); ++i)
    if (!std::isfinite(t.data()[i])) return static_cast<int64_t>(i);
  return -1;
}

}  // namespace

NetRoles find_roles(Graph& graph) {
  NetRoles roles;
  if (graph.input_blobs().size() < 2) fail("a trainable net needs an Input layer with outputs images and labels");
  roles.images = graph.input_blobs()[0];
  roles.labels = graph.input_blobs()[1];
  for (size_t i = 0; i < graph.num_layers(); ++i) {
    Layer& layer = graph.layer(i);
    if (layer.role() == Role::kLoss && roles.loss.empty()) {
      roles.loss = graph.output_names_of(i).at(0);
      roles.scores = graph.input_names_of(i).at(0);
    }
    if (layer.role() == Role::kMetric && roles.accuracy.empty()) roles.accuracy = graph.output_names_of(i).at(0);
  }
  if (roles.loss.empty()) fail("the net has no loss layer (SoftmaxCrossEntropy, say) to train");
  return roles;
}

Evaluation evaluate(Graph& graph, const Dataset& data, int batch_size, Communicator& world) {
  const NetRoles roles = find_roles(graph);
  const int64_t train_batch = graph.batch();
  const Share mine = share_of(data.count, world.rank(), world.size());
  Evaluation e;
  e.confusion.assign(data.classes * data.classes, 0);
  std::vector<int64_t> order(data.count);
  for (int64_t i = 0; i < data.count; ++i) order[i] = i;
  double loss_sum = 0;
  int64_t correct = 0;
  for (int64_t first = mine.first; first < mine.first + mine.count; first += batch_size) {
    const int64_t n = std::min<int64_t>(batch_size, mine.first + mine.count - first);
    if (graph.batch() != n) graph.set_batch(n);
    fill_batch(data, order, first, {}, graph.value(roles.images), graph.value(roles.labels));
    graph.forward(Context::evaluation());
    loss_sum += graph.value(roles.loss).data()[0] * n;
    const Tensor scores = graph.value(roles.scores).to_plain();
    const int64_t k = scores.count() / n;
    for (int64_t i = 0; i < n; ++i) {
      const float* row = scores.data() + i * k;
      const int64_t predicted = std::max_element(row, row + k) - row;
      const int64_t label = data.labels[first + i];
      correct += predicted == label;
      if (label < data.classes && predicted < data.classes) ++e.confusion[label * data.classes + predicted];
    }
  }
  if (graph.batch() != train_batch) graph.set_batch(train_batch);
  // Every rank's sums: the loss, the correct count, the confusion matrix (counts below 2^53).
  std::vector<double> sums = {loss_sum, static_cast<double>(correct)};
  sums.insert(sums.end(), e.confusion.begin(), e.confusion.end());
  world.sum(sums.data(), static_cast<int64_t>(sums.size()));
  loss_sum = sums[0];
  correct = static_cast<int64_t>(sums[1]);
  for (size_t i = 0; i < e.confusion.size(); ++i) e.confusion[i] = static_cast<int64_t>(sums[2 + i]);
  e.count = data.count;
  e.loss = loss_sum / static_cast<double>(data.count);
  e.accuracy = static_cast<double>(correct) / static_cast<double>(data.count);
  return e;
}

// --- The run's files ---------------------------------------------------------------------------

void RunFiles::save(const onebyone::Checkpoint& run) const {
  for (const auto* state : {&run.param(), &run.buffer()})
    for (const onebyone::BlobProto& p : *state)
      for (int i = 0; i < p.data_size(); ++i)
        if (!std::isfinite(p.data(i)))
          fail("not saving a checkpoint after step {}: {} '{}' holds {} at index {}; {} is left as it was",
               run.iteration(), state == &run.param() ? "parameter" : "buffer", p.name(), p.data(i), i, last());
  save_checkpoint(last(), run);
}

void RunFiles::stopped(const onebyone::Checkpoint& run) { save(run); }

void RunFiles::epoch(const onebyone::EpochMetrics& metrics, const onebyone::Checkpoint& run) {
  save(run);
  const auto& history = run.history();
  const bool best = metrics.has_test_accuracy() &&
                    std::all_of(history.begin(), history.end() - 1,
                                [&](const auto& h) { return h.test_accuracy() < metrics.test_accuracy(); });
  if (best) link_file(last(), folder_ + "/best.ckpt");

  // Written after the checkpoint: metrics never describe an epoch that no checkpoint holds.
  Records epochs({Column("epoch"), Column("train_loss", ".6f"), Column("train_accuracy", ".6f"),
                  Column("test_loss", ".6f"), Column("test_accuracy", ".6f"), Column("learning_rate", ".6g"),
                  Column("seconds", ".3f"), Column("images_per_second", ".1f")});
  for (const auto& m : history)
    epochs.add({m.epoch(), m.train_loss(), m.train_accuracy(), m.test_loss(), m.test_accuracy(), m.learning_rate(),
                m.seconds(), m.images_per_second()});
  write_file(folder_ + "/metrics.csv", epochs.csv());
  write_file(folder_ + "/metrics.json",
             nlohmann::json{{"model", run.net().name()}, {"epochs", epochs.json()}}.dump(2) + "\n");
}

// --- Trainer -----------------------------------------------------------------------------------

Trainer::Trainer(const onebyone::NetParameter& net, const onebyone::SolverParameter& solver, const Dataset& train,
                 const Dataset& test, TrainerOptions options)
    : net_(net), written_(solver), options_(std::move(options)), graph_(net, GraphOptions::seeded(solver.seed())) {
  prepare(solver, train, test);
  // The fillers are seeded, so every rank starts alike; rank 0's values make sure of it.
  options_.world->broadcast(graph_.param_values().data(), graph_.param_values().count());
  for (Buffer* b : graph_.buffers()) options_.world->broadcast(b->value.data(), b->value.count());
}

Trainer::Trainer(const onebyone::Checkpoint& checkpoint, const Dataset& train, const Dataset& test,
                 TrainerOptions options)
    : net_(checkpoint.net()), written_(checkpoint.solver()), options_(std::move(options)),
      graph_(checkpoint.net(), GraphOptions::seeded(checkpoint.solver().seed())) {
  prepare(checkpoint.solver(), train, test);
  restore_params(checkpoint, graph_);
  restore_tensors(checkpoint.optimizer_state(), optimizer_->state(), "optimizer");
  position_ = checkpoint;
  position_.clear_net();
  position_.clear_solver();
  position_.clear_param();
  position_.clear_optimizer_state();
  position_.clear_quantization();  // measured for weights this run will change: its checkpoints are float
  *position_.mutable_context() = options_.context;  // what this run reads, for the next resume
  check_position();
}

Trainer::~Trainer() = default;

void Trainer::prepare(const onebyone::SolverParameter& solver, const Dataset& train, const Dataset& test) {
  // The library's door: a solver made in code is checked here (a file's or a checkpoint's was
  // already, when read).
  validate(solver);
  if (test.rows != train.rows || test.cols != train.cols)
    fail("the test images are {}x{}, the training images {}x{}: both sets must have one size", test.rows, test.cols,
         train.rows, train.cols);
  if (solver.augment_shift() >= train.rows)
    fail("solver: augment_shift must be smaller than the images' {} rows, got {}", train.rows, solver.augment_shift());
  train_ = &train;
  held_out_ = test_ = &test;
  if (solver.validation_size() > 0) {
    if (solver.validation_size() >= train.count)
      fail("solver: validation_size {} leaves nothing of the {} training images", solver.validation_size(), train.count);
    std::tie(split_train_, split_held_) = split_off(train, train.count - solver.validation_size());
    train_ = &split_train_;
    held_out_ = &split_held_;
  }
  if (train_->count < solver.batch_size())
    fail("solver: batch_size {} is larger than the {} training images", solver.batch_size(), train_->count);
  steps_per_epoch_ = train_->count / solver.batch_size();  // a final partial batch is dropped
  solver_ = resolve(solver, steps_per_epoch_, &notices_);
  share_ = share_of(solver_.batch_size(), options_.world->rank(), options_.world->size());
  roles_ = find_roles(graph_);
  graph_.reshape({{roles_.images, {share_.count, 1, train_->rows, train_->cols}}, {roles_.labels, {share_.count}}});
  optimizer_ = make_optimizer(solver_, graph_);
  *position_.mutable_context() = options_.context;
}

void Trainer::check_position() const {
  const auto& p = position_;
  if (p.epoch() < 0 || p.batch() < 0 || p.iteration() < 0 || p.train_seen() < 0 || p.train_seconds() < 0 ||
      !std::isfinite(p.train_loss_sum()) || !std::isfinite(p.train_correct()) || !std::isfinite(p.train_seconds()))
    fail("the checkpoint's position is impossible (epoch {}, batch {}, step {}, {} images seen)", p.epoch(), p.batch(),
         p.iteration(), p.train_seen());
  if (p.batch() >= steps_per_epoch_)
    fail("the checkpoint stopped at batch {} of an epoch, but an epoch here has {} batches (was the run made with "
         "another --train-size or batch size?)",
         p.batch(), steps_per_epoch_);
  if (p.history_size() != p.epoch())
    fail("the checkpoint has completed {} epochs but holds metrics for {}", p.epoch(), p.history_size());
}

// Asked of every rank before each step: all stop together when any was told to.
bool Trainer::stop_requested(int64_t steps_this_run) const {
  double stop = (options_.stop && options_.stop->load()) ||
                (options_.stop_after_steps >= 0 && steps_this_run >= options_.stop_after_steps);
  options_.world->sum(&stop, 1);
  return stop > 0;
}

// Running statistics (BatchNorm's) are each rank's own within an epoch: averaged across ranks
// at its end (and when the run stops), every rank holds the same values, the ones a checkpoint
// keeps and evaluation reads. (The running mean is an average of batch means, so averaging
// ranks' is averaging the global batch's; the variance is the mean of the shares' variances.)
void Trainer::average_buffers() {
  Communicator& world = *options_.world;
  if (world.size() == 1) return;
  for (Buffer* b : graph_.buffers()) {
    world.sum(b->value.data(), b->value.count());
    for (int64_t i = 0; i < b->value.count(); ++i) b->value.data()[i] /= static_cast<float>(world.size());
  }
}

TrainResult Trainer::run() {
  int64_t steps_this_run = 0;
  for (int epoch = position_.epoch(); epoch < solver_.epochs(); ++epoch) {
    const std::vector<int64_t> order = epoch_order(train_->count, solver_.seed(), epoch);
    for (int64_t b = position_.batch(); b < steps_per_epoch_; ++b, ++steps_this_run) {
      if (stop_requested(steps_this_run)) {
        average_buffers();
        const onebyone::Checkpoint run = snapshot();
        for (Reporter* r : options_.reporters) r->stopped(run);
        return result(true);
      }
      step(epoch, b, order);
    }
    end_epoch(epoch);
  }
  return result(false);
}

// One optimizer step on batch b of the epoch: forward on this rank's share, backward, the
// gradients summed across ranks, update, bookkeeping.
void Trainer::step(int epoch, int64_t b, const std::vector<int64_t>& order) {
  const Clock::time_point start = Clock::now();
  Communicator& world = *options_.world;
  const int64_t batch = solver_.batch_size(), step = position_.iteration();
  fill_batch(*train_, order, b * batch + share_.first, {solver_.augment_shift(), solver_.seed(), epoch},
             graph_.value(roles_.images), graph_.value(roles_.labels));
  const Context ctx = Context::training(solver_.seed(), static_cast<uint64_t>(step), share_.first);
  graph_.forward(ctx);
  // The batch's loss and correct count, from every rank's share: all ranks see the same, and a
  // divergence stops them all.
  const double part = static_cast<double>(share_.count);
  double sums[2] = {graph_.value(roles_.loss).data()[0] * part,
                    roles_.accuracy.empty() ? 0 : graph_.value(roles_.accuracy).data()[0] * part};
  world.sum(sums, 2);
  const double loss = sums[0] / static_cast<double>(batch);
  if (!std::isfinite(loss))
    fail("training diverged at step {} (epoch {}, batch {}): the loss is {}; {}. Nothing of this step was saved. "
         "Lower base_lr or add warm-up.",
         step, epoch + 1, b, loss, diagnose_divergence(ctx));
  graph_.backward();
  if (world.size() > 1) {
    // Each rank's loss is its share's mean: weighted by its share, the sum is the batch's mean's gradient.
    Tensor& grads = graph_.param_grads();
    const float weight = static_cast<float>(part / static_cast<double>(batch));
    for (int64_t i = 0; i < grads.count(); ++i) grads.data()[i] *= weight;
    world.sum(grads.data(), grads.count());
  }
  optimizer_->step(step);

  position_.set_iteration(step + 1);
  position_.set_batch(b + 1);
  position_.set_train_loss_sum(position_.train_loss_sum() + sums[0]);
  position_.set_train_correct(position_.train_correct() + sums[1]);
  position_.set_train_seen(position_.train_seen() + batch);
  position_.set_train_seconds(position_.train_seconds() + since(start));
  const double rate = position_.train_seen() / position_.train_seconds();
  const Progress progress{epoch + 1,
                          solver_.epochs(),
                          b + 1,
                          steps_per_epoch_,
                          position_.train_loss_sum() / position_.train_seen(),
                          position_.train_correct() / position_.train_seen(),
                          rate,
                          (steps_per_epoch_ - b - 1) * batch / rate};
  for (Reporter* r : options_.reporters) r->step(progress);
}

// Which value went bad first: a parameter (made so by the last update), or else the first
// layer, in execution order, whose output is not finite. The step's forward pass runs again,
// layer by layer, each output checked as it is written: values that no backward pass reads
// share memory, so after the whole pass some hold other layers' values.
std::string Trainer::diagnose_divergence(const Context& ctx) {
  for (const Param* p : graph_.params())
    if (const int64_t i = first_non_finite(p->value); i >= 0)
      return fmt::format("parameter '{}' holds {} at index {}: the previous update made it so", p->name,
                         p->value.data()[i], i);
  for (size_t k = 0; k < graph_.num_layers(); ++k) {
    graph_.forward_layer(k, ctx);
    for (const Port& out : graph_.outputs_of(k))
      if (first_non_finite(*out.value) >= 0)
        return fmt::format("layer '{}' ({}) is the first whose output is not finite", graph_.layer(k).name(),
                           graph_.layer(k).type());
  }
  return "no layer output is non-finite";
}

void Trainer::end_epoch(int epoch) {
  average_buffers();  // before the evaluation, which reads them on every rank
  onebyone::EpochMetrics m;
  m.set_epoch(epoch + 1);
  m.set_train_loss(position_.train_loss_sum() / position_.train_seen());
  m.set_train_accuracy(position_.train_correct() / position_.train_seen());
  m.set_learning_rate(learning_rate(solver_, position_.iteration() - 1));
  m.set_seconds(position_.train_seconds());
  m.set_images_per_second(position_.train_seen() / position_.train_seconds());
  if ((epoch + 1) % solver_.test_interval() == 0 || epoch + 1 == solver_.epochs()) {
    const Evaluation e = evaluate(graph_, *held_out_, solver_.test_batch_size(), *options_.world);
    m.set_test_loss(e.loss);
    m.set_test_accuracy(e.accuracy);
  }
  *position_.add_history() = m;
  position_.set_epoch(epoch + 1);
  position_.set_batch(0);
  position_.set_train_loss_sum(0);
  position_.set_train_correct(0);
  position_.set_train_seen(0);
  position_.set_train_seconds(0);
  const onebyone::Checkpoint run = snapshot();
  for (Reporter* r : options_.reporters) r->epoch(m, run);
}

TrainResult Trainer::result(bool interrupted) {
  TrainResult result;
  result.interrupted = interrupted;
  result.history.assign(position_.history().begin(), position_.history().end());
  int64_t images = 0;
  for (const auto& h : result.history) {
    result.best_test_accuracy = std::max(result.best_test_accuracy, h.test_accuracy());
    result.seconds += h.seconds();
    images += steps_per_epoch_ * solver_.batch_size();
  }
  result.last_test_accuracy = result.history.empty() ? 0 : result.history.back().test_accuracy();
  result.images_per_second = result.seconds > 0 ? images / result.seconds : 0;
  if (!interrupted && solver_.validation_size() > 0)
    result.final_test = evaluate(graph_, *test_, solver_.test_batch_size(), *options_.world);
  if (!interrupted)
    for (Reporter* r : options_.reporters) r->finished(result);
  return result;
}

onebyone::Checkpoint Trainer::snapshot() {
  onebyone::Checkpoint c = position_;
  *c.mutable_net() = net_;
  *c.mutable_solver() = written_;
  store_params(graph_, &c);
  store_tensors(optimizer_->state(), "optimizer.", c.mutable_optimizer_state());
  return c;
}

}  // namespace obo
