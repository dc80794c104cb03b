#include "framework/trainer.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <tuple>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "framework/checkpoint.h"
#include "framework/error.h"

namespace obo {
namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

std::string duration(double seconds) {
  const int s = static_cast<int>(seconds + 0.5);
  return s >= 60 ? fmt::format("{}m{:02d}s", s / 60, s % 60) : fmt::format("{}s", s);
}

}  // namespace

NetRoles find_roles(Graph& graph) {
  NetRoles roles;
  if (graph.input_blobs().size() < 2) fail("a trainable net needs an Input layer with outputs images and labels");
  roles.images = graph.input_blobs()[0];
  roles.labels = graph.input_blobs()[1];
  for (size_t i = 0; i < graph.num_layers(); ++i) {
    Layer& layer = graph.layer(i);
    if (layer.is_loss()) {
      roles.loss = graph.output_names_of(i).at(0);
      roles.scores = graph.input_names_of(i).at(0);
    }
    if (layer.type() == "Accuracy") roles.accuracy = graph.output_names_of(i).at(0);
  }
  if (roles.loss.empty()) fail("the net has no loss layer (SoftmaxCrossEntropy) to train");
  return roles;
}

Evaluation evaluate(Graph& graph, const Dataset& data, int batch_size) {
  const NetRoles roles = find_roles(graph);
  const int64_t train_batch = graph.batch();
  Evaluation e;
  e.confusion.assign(data.classes * data.classes, 0);
  std::vector<int64_t> order(data.count);
  for (int64_t i = 0; i < data.count; ++i) order[i] = i;
  double loss_sum = 0;
  int64_t correct = 0;
  for (int64_t first = 0; first < data.count; first += batch_size) {
    const int64_t n = std::min<int64_t>(batch_size, data.count - first);
    if (graph.batch() != n) graph.set_batch(n);
    fill_batch(data, order, first, {}, graph.value(roles.images), graph.value(roles.labels));
    graph.forward({false, 0, 0});
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
  e.count = data.count;
  e.loss = loss_sum / static_cast<double>(data.count);
  e.accuracy = static_cast<double>(correct) / static_cast<double>(data.count);
  return e;
}

Trainer::Trainer(const onebyone::NetParameter& net, const onebyone::SolverParameter& solver, const Dataset& train,
                 const Dataset& test, TrainerOptions options)
    : net_(net), solver_(solver), options_(std::move(options)), graph_(net, {solver.seed(), false}) {
  prepare(train, test);
}

Trainer::Trainer(const onebyone::Checkpoint& checkpoint, const Dataset& train, const Dataset& test,
                 TrainerOptions options)
    : net_(checkpoint.net()), solver_(checkpoint.solver()), options_(std::move(options)),
      graph_(checkpoint.net(), {checkpoint.solver().seed(), false}) {
  prepare(train, test);
  restore_params(checkpoint, graph_);
  restore_tensors(checkpoint.optimizer_state(), optimizer_->state(), "optimizer");
  position_ = checkpoint;
  position_.clear_net();
  position_.clear_solver();
  position_.clear_param();
  position_.clear_optimizer_state();
}

Trainer::~Trainer() = default;

void Trainer::prepare(const Dataset& train, const Dataset& test) {
  if (solver_.batch_size() <= 0 || solver_.epochs() <= 0 || solver_.test_interval() <= 0 || solver_.test_batch_size() < 0)
    fail("solver: batch_size, epochs and test_interval must be positive, test_batch_size positive or 0");
  if (solver_.test_batch_size() == 0) solver_.set_test_batch_size(solver_.batch_size());
  if (solver_.augment_shift() < 0 || solver_.augment_shift() >= train.rows)
    fail("solver: augment_shift must be in [0, {}), got {}", train.rows, solver_.augment_shift());
  train_ = &train;
  held_out_ = test_ = &test;
  if (solver_.validation_size() > 0) {
    std::tie(split_train_, split_held_) = split_off(train, train.count - solver_.validation_size());
    train_ = &split_train_;
    held_out_ = &split_held_;
  }
  if (train_->count < solver_.batch_size())
    fail("solver: batch_size {} is larger than the {} training examples", solver_.batch_size(), train_->count);
  const int64_t steps_per_epoch = train_->count / solver_.batch_size();
  if (solver_.schedule() == onebyone::SolverParameter::COSINE && !solver_.has_max_iter())
    solver_.set_max_iter(steps_per_epoch * solver_.epochs());  // decay over the whole run
  roles_ = find_roles(graph_);
  graph_.reshape({{roles_.images, {solver_.batch_size(), 1, train_->rows, train_->cols}},
                  {roles_.labels, {solver_.batch_size()}}});
  optimizer_ = make_optimizer(solver_, graph_);
}

onebyone::Checkpoint Trainer::snapshot() {
  onebyone::Checkpoint c = position_;
  *c.mutable_net() = net_;
  *c.mutable_solver() = solver_;
  store_params(graph_, &c);
  store_tensors(optimizer_->state(), "optimizer.", c.mutable_optimizer_state());
  return c;
}

std::string Trainer::save(const std::string& name) {
  if (options_.out_dir.empty()) return "";
  std::filesystem::create_directories(options_.out_dir);
  const std::string path = options_.out_dir + "/" + name;
  save_checkpoint(path, snapshot());
  return path;
}

void Trainer::write_metrics() const {
  if (options_.out_dir.empty()) return;
  std::filesystem::create_directories(options_.out_dir);
  std::ofstream csv(options_.out_dir + "/metrics.csv");
  csv << "epoch,train_loss,train_accuracy,test_loss,test_accuracy,learning_rate,seconds,images_per_second\n";
  std::ofstream json(options_.out_dir + "/metrics.json");
  json << "{\"model\": \"" << net_.name() << "\", \"epochs\": [";
  for (int i = 0; i < position_.history_size(); ++i) {
    const auto& m = position_.history(i);
    csv << fmt::format("{},{:.6f},{:.6f},{:.6f},{:.6f},{:.6g},{:.3f},{:.1f}\n", m.epoch(), m.train_loss(),
                       m.train_accuracy(), m.test_loss(), m.test_accuracy(), m.learning_rate(), m.seconds(),
                       m.images_per_second());
    json << (i ? ", " : "")
         << fmt::format("{{\"epoch\": {}, \"train_loss\": {:.6f}, \"train_accuracy\": {:.6f}, \"test_loss\": {:.6f}, "
                        "\"test_accuracy\": {:.6f}, \"learning_rate\": {:.6g}, \"seconds\": {:.3f}, "
                        "\"images_per_second\": {:.1f}}}",
                        m.epoch(), m.train_loss(), m.train_accuracy(), m.test_loss(), m.test_accuracy(),
                        m.learning_rate(), m.seconds(), m.images_per_second());
  }
  json << "]}\n";
}

TrainResult Trainer::run() {
  const int64_t batch = solver_.batch_size();
  const int64_t steps_per_epoch = train_->count / batch;  // a final partial batch is dropped
  const bool live = options_.progress && ::isatty(STDERR_FILENO);
  const char* held_name = solver_.validation_size() > 0 ? "validation" : "test";
  TrainResult result;
  int64_t steps_this_run = 0;
  for (int epoch = position_.epoch(); epoch < solver_.epochs(); ++epoch) {
    const std::vector<int64_t> order = epoch_order(train_->count, solver_.seed(), epoch);
    const Augment augment{solver_.augment_shift(), solver_.seed(), epoch};
    Clock::time_point last_print = Clock::now();
    for (int64_t b = position_.batch(); b < steps_per_epoch; ++b) {
      const bool stop = (options_.stop && options_.stop->load()) ||
                        (options_.stop_after_steps >= 0 && steps_this_run >= options_.stop_after_steps);
      if (stop) {
        if (live) std::fprintf(stderr, "\n");
        result.interrupted = true;
        result.checkpoint = save("last.ckpt");
        if (options_.log)
          *options_.log << fmt::format("stopped in epoch {} at batch {}/{}{}\n", epoch + 1, b, steps_per_epoch,
                                       result.checkpoint.empty() ? "" : "; checkpoint " + result.checkpoint);
        return result;
      }
      const Clock::time_point start = Clock::now();
      fill_batch(*train_, order, b * batch, augment, graph_.value(roles_.images), graph_.value(roles_.labels));
      const int64_t step = position_.iteration();
      graph_.forward({true, solver_.seed(), static_cast<uint64_t>(step)});
      graph_.backward();
      optimizer_->step(step);
      const float loss = graph_.value(roles_.loss).data()[0];
      if (!std::isfinite(loss))
        fail("training diverged: the loss is {} at step {} (epoch {}, batch {}); the last checkpoint is kept. "
             "Lower base_lr or add warm-up.",
             loss, step, epoch + 1, b);
      position_.set_iteration(step + 1);
      position_.set_batch(b + 1);
      ++steps_this_run;
      position_.set_train_loss_sum(position_.train_loss_sum() + loss * batch);
      if (!roles_.accuracy.empty())
        position_.set_train_correct(position_.train_correct() + graph_.value(roles_.accuracy).data()[0] * batch);
      position_.set_train_seen(position_.train_seen() + batch);
      position_.set_train_seconds(position_.train_seconds() + since(start));
      if (live && (since(last_print) > 0.25 || b + 1 == steps_per_epoch)) {
        last_print = Clock::now();
        const double rate = position_.train_seen() / position_.train_seconds();
        const int width = 24, filled = static_cast<int>(width * (b + 1) / steps_per_epoch);
        std::fprintf(stderr, "\repoch %d/%d [%s%s] %lld/%lld  loss %.4f  acc %.2f%%  %.0f img/s  ETA %s   ", epoch + 1,
                     solver_.epochs(), std::string(filled, '#').c_str(), std::string(width - filled, '.').c_str(),
                     static_cast<long long>(b + 1), static_cast<long long>(steps_per_epoch),
                     position_.train_loss_sum() / position_.train_seen(),
                     100.0 * position_.train_correct() / position_.train_seen(), rate,
                     duration((steps_per_epoch - b - 1) * batch / rate).c_str());
      }
    }
    if (live) std::fprintf(stderr, "\n");

    onebyone::EpochMetrics m;
    m.set_epoch(epoch + 1);
    m.set_train_loss(position_.train_loss_sum() / position_.train_seen());
    m.set_train_accuracy(position_.train_correct() / position_.train_seen());
    m.set_learning_rate(learning_rate(solver_, position_.iteration() - 1));
    m.set_seconds(position_.train_seconds());
    m.set_images_per_second(position_.train_seen() / position_.train_seconds());
    const bool last = epoch + 1 == solver_.epochs();
    if ((epoch + 1) % solver_.test_interval() == 0 || last) {
      const Evaluation e = evaluate(graph_, *held_out_, solver_.test_batch_size());
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
    if (options_.log)
      *options_.log << fmt::format("epoch {}/{}: train loss {:.4f} acc {:.2f}% | {} loss {:.4f} acc {:.2f}% | lr {:.3g} | {} at {:.0f} img/s\n",
                                   epoch + 1, solver_.epochs(), m.train_loss(), 100 * m.train_accuracy(), held_name,
                                   m.test_loss(), 100 * m.test_accuracy(), m.learning_rate(), duration(m.seconds()),
                                   m.images_per_second())
                    << std::flush;
    write_metrics();
    result.checkpoint = save("last.ckpt");
    const bool best = std::all_of(position_.history().begin(), position_.history().end() - 1,
                                  [&](const auto& h) { return h.test_accuracy() < m.test_accuracy(); });
    if (best && m.has_test_accuracy() && !options_.out_dir.empty())
      std::filesystem::copy_file(result.checkpoint, options_.out_dir + "/best.ckpt",
                                 std::filesystem::copy_options::overwrite_existing);
  }

  result.history.assign(position_.history().begin(), position_.history().end());
  for (const auto& h : result.history) {
    result.best_test_accuracy = std::max(result.best_test_accuracy, h.test_accuracy());
    result.seconds += h.seconds();
  }
  result.last_test_accuracy = result.history.empty() ? 0 : result.history.back().test_accuracy();
  result.images_per_second = result.seconds > 0 ? result.history.size() * steps_per_epoch * batch / result.seconds : 0;
  if (options_.log) {
    *options_.log << fmt::format("done: best {} accuracy {:.2f}%, last {:.2f}%, {} of training at {:.0f} img/s\n", held_name,
                                 100 * result.best_test_accuracy, 100 * result.last_test_accuracy, duration(result.seconds),
                                 result.images_per_second);
    if (solver_.validation_size() > 0) {
      const Evaluation e = evaluate(graph_, *test_, solver_.test_batch_size());
      *options_.log << fmt::format("test accuracy {:.2f}% on {} images\n", 100 * e.accuracy, e.count);
    }
  }
  return result;
}

}  // namespace obo
