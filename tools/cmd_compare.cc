// onebyone compare MODEL_A MODEL_B [...] [--train-sizes N,N,...] [--shifts S,S] [--seeds K]:
// trains every model at every training-set size, augmentation and seed under one solver, one data
// order and one set of seeds (the subset of size N is the first N images, the same for every
// model), then prints a table per model, augmentation and size (final and best test accuracy,
// final train accuracy measured in evaluation mode, the gap, as mean +- sd over seeds), writes it
// as CSV and JSON, and draws it with gnuplot: test accuracy and gap against the training-set
// size, or the learning curves where there is one size.
//
// Every cell (model, size, seed) trains the same number of steps, so that a small set is not
// under-trained beside a large one: --steps, by default the solver's epochs over the largest set.
// A cell is a run of its own in <out>/<model>/shift<S>/n<size>/seed<seed>/, its result written when it
// ends: an interrupted sweep (Ctrl-C, kill) goes on with the same command and --resume, running
// no finished cell again and continuing an unfinished one from its last checkpoint. A cell that
// diverges is reported as such, not dropped.
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <array>
#include <map>
#include <optional>

#include "framework/checkpoint.h"
#include "framework/error.h"
#include "framework/io.h"
#include "framework/proto_io.h"
#include "framework/records.h"
#include "framework/trainer.h"
#include "tools/common.h"

namespace obo::cli {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

struct CompareArgs {
  std::vector<std::string> models;
  std::vector<int64_t> train_sizes;  // 0: the whole training set
  std::vector<int> shifts;           // augmentation: the solver's augment_shift, swept
  std::string solver, data, out;
  int seeds = 1, epochs = 0, threads = 0;
  int64_t steps = 0, test_size = 0;
  bool no_augment = false, resume = false;
};

// What defines a sweep, kept in <out>/sweep.json: a resumed sweep must be the same one.
struct Sweep {
  std::vector<std::string> models;  // as given
  std::vector<onebyone::NetParameter> nets;
  std::vector<std::string> dirs;    // a folder name per model
  onebyone::SolverParameter solver;
  std::vector<int64_t> sizes;       // ascending, each at most the training set
  std::vector<int> shifts;          // augmentation, as given
  int seeds = 1;
  int64_t steps = 0;                // per cell
  std::string data;                 // the data set's folder
  int64_t test_size = 0;

  json to_json() const {
    json nets_text = json::array();
    for (const auto& n : nets) nets_text.push_back(n.DebugString());
    return {{"models", models}, {"nets", nets_text}, {"solver", solver.DebugString()}, {"train_sizes", sizes},
            {"shifts", shifts}, {"seeds", seeds},    {"steps", steps},                  {"data", data},
            {"test_size", test_size}};
  }
};

struct Cell {
  size_t model = 0;
  int shift = 0;
  int64_t size = 0;
  int seed = 0;  // the solver's seed for this cell
  std::string dir;
};

// The mean and sample standard deviation (0 for one value) of xs; not a number where xs is empty.
Spread spread(const std::vector<double>& xs) {
  if (xs.empty()) return {NAN, NAN};
  Spread s;
  for (double x : xs) s.mean += x / xs.size();
  if (xs.size() > 1) {
    for (double x : xs) s.std += (x - s.mean) * (x - s.mean);
    s.std = std::sqrt(s.std / (xs.size() - 1));
  }
  return s;
}

// Which images a cell trained on, as a number: the same for every model at one size.
uint64_t fingerprint(const Dataset& d) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (const std::vector<uint8_t>* bytes : {&d.pixels, &d.labels})
    for (uint8_t b : *bytes) h = (h ^ b) * 1099511628211ull;
  return h;
}

// The solver of one cell: the sweep's, at this cell's shift and seed, with as many epochs as make
// about `steps` steps at this size, and tested about five times.
onebyone::SolverParameter cell_solver(const Sweep& sweep, const Cell& cell) {
  onebyone::SolverParameter s = sweep.solver;
  s.set_seed(static_cast<uint64_t>(cell.seed));
  s.set_augment_shift(cell.shift);
  const int64_t per_epoch = std::max<int64_t>(1, cell.size / s.batch_size());
  const int64_t epochs = std::max<int64_t>(1, (sweep.steps + per_epoch / 2) / per_epoch);
  s.set_epochs(static_cast<int>(epochs));
  s.set_test_interval(static_cast<int>(std::max<int64_t>(s.test_interval(), (epochs + 4) / 5)));
  return s;
}

// "nin", or "nin, shifts 2" / "nin, no shifts" where the sweep has several.
std::string series(const Sweep& sweep, size_t model, int shift) {
  if (sweep.shifts.size() == 1) return sweep.models[model];
  return sweep.models[model] + (shift ? fmt::format(", shifts {}", shift) : ", no shifts");
}

// The sweep's whole-run progress: a live line on a terminal, and what is left to do.
class SweepProgress : public Reporter {
 public:
  SweepProgress(bool live, int64_t total_steps) : live_(live), total_(total_steps) {}

  void start(const std::string& cell) { cell_ = cell; }
  void done(int64_t steps, bool this_run) {
    done_ += steps;
    if (this_run) ran_ += steps;
  }
  int64_t done_steps() const { return done_; }
  double percent() const { return 100.0 * done_ / std::max<int64_t>(1, total_); }
  // What is left, at the pace of the steps this invocation has run (evaluations included).
  std::string eta() const {
    const double elapsed = std::chrono::duration<double>(Clock::now() - started_).count();
    return ran_ > 0 ? duration(elapsed / ran_ * static_cast<double>(total_ - done_)) : "?";
  }

  void step(const obo::Progress& p) override {
    ++current_;
    if (!live_ || std::chrono::duration<double>(Clock::now() - last_).count() < 0.25) return;
    last_ = Clock::now();
    const int64_t steps = done_ + current_;
    const double elapsed = std::chrono::duration<double>(Clock::now() - started_).count();
    const double left = ran_ + current_ > 0 ? elapsed / (ran_ + current_) * static_cast<double>(total_ - steps) : 0;
    std::cerr << fmt::format("\r{}: epoch {}/{}, {:.0f} img/s | sweep {:.0f}%, ETA {}   ", cell_, p.epoch, p.epochs,
                             p.images_per_second, 100.0 * steps / total_, duration(left))
              << std::flush;
  }
  void end_line() {
    if (live_ && current_ > 0) std::cerr << "\r" << std::string(100, ' ') << "\r" << std::flush;
    current_ = 0;
  }

 private:
  const bool live_;
  const int64_t total_;
  int64_t done_ = 0, ran_ = 0, current_ = 0;
  std::string cell_;
  const Clock::time_point started_ = Clock::now();
  Clock::time_point last_ = Clock::now();
};

// Runs one cell to its end (from its last checkpoint, if an earlier sweep left one) and returns
// its result, or nothing if a stop was asked for. A divergence is a result.
std::optional<json> run_cell(const Sweep& sweep, const Cell& cell, const Dataset& train, const Dataset& test,
                             SweepProgress& progress, int64_t* steps) {
  const onebyone::SolverParameter solver = cell_solver(sweep, cell);
  fs::create_directories(cell.dir);
  RunFiles files(cell.dir);
  TrainerOptions options;
  options.reporters = {&files, &progress};
  options.stop = &g_stop;
  options.context.set_data_dir(sweep.data);
  options.context.set_train_size(cell.size);
  options.context.set_test_size(sweep.test_size);
  *options.context.mutable_class_names() = {train.class_names.begin(), train.class_names.end()};
  const Clock::time_point start = Clock::now();
  json result = {{"model", sweep.models[cell.model]}, {"shift", cell.shift}, {"train_size", cell.size},
                 {"seed", cell.seed},                 {"epochs", solver.epochs()},
                 {"data_fingerprint", fmt::format("{:016x}", fingerprint(train))}};
  try {
    std::unique_ptr<Trainer> trainer;
    if (fs::exists(files.last()))
      trainer = std::make_unique<Trainer>(load_checkpoint(files.last()), train, test, options);
    else
      trainer = std::make_unique<Trainer>(sweep.nets[cell.model], solver, train, test, options);
    *steps = trainer->steps_per_epoch() * solver.epochs();
    const TrainResult t = trainer->run();
    if (t.interrupted) return std::nullopt;
    json history = json::array();
    for (const auto& e : t.history) {
      json epoch = {{"epoch", e.epoch()}, {"train_loss", e.train_loss()}, {"train_accuracy", e.train_accuracy()}};
      if (e.has_test_accuracy()) epoch["test_accuracy"] = e.test_accuracy();
      history.push_back(epoch);
    }
    result["steps"] = *steps;
    result["final_test"] = t.last_test_accuracy;
    result["best_test"] = t.best_test_accuracy;
    result["final_train"] = evaluate(trainer->graph(), train, trainer->solver().test_batch_size()).accuracy;
    result["images_per_second"] = t.images_per_second;
    result["history"] = history;
  } catch (const Error& e) {
    if (std::string(e.what()).rfind("training diverged", 0) != 0) throw;
    result["diverged"] = e.what();
  }
  result["seconds"] = std::chrono::duration<double>(Clock::now() - start).count();
  return result;
}

// The folder of a sweep: a new one, or with --resume the one holding this same sweep.
RunFolder sweep_folder(const CompareArgs& a, const Sweep& sweep) {
  if (!a.resume) {
    if (!a.out.empty() && RunFolder::holds_run(a.out))
      fail("--out '{}' already holds a comparison or a run: choose another folder, or add --resume to continue the "
           "sweep there",
           a.out);
    return a.out.empty() ? RunFolder::claim_next("runs/compare") : RunFolder::claim(a.out);
  }
  const std::string out = a.out.empty() ? "runs/compare" : a.out;
  const std::string spec = out + "/sweep.json";
  if (!fs::exists(spec)) fail("--resume: '{}' holds no sweep to continue (no sweep.json)", out);
  const json was = json::parse(read_file(spec, kTextLimit, "sweep"), nullptr, false);
  if (was.is_discarded()) fail("--resume: '{}' is not a sweep's description (not JSON)", spec);
  const json now = sweep.to_json();
  for (const auto& [key, value] : now.items())
    if (!was.contains(key) || was[key] != value)
      fail("--resume: the sweep in '{}' was run with another {} ({} then, {} now): give the same command, or start a "
           "new sweep without --resume",
           out, key, was.contains(key) ? was[key].dump() : "none", value.dump());
  return RunFolder::claim(out);
}

struct Row {
  size_t model;
  int shift;
  int64_t size;
  std::vector<json> cells;  // the finished ones, diverged included
};

// The cells' results by model and size, with the statistics over seeds of the cells that ended.
struct Summary {
  Spread final_test, best_test, final_train, gap, rate;
  int ended = 0, diverged = 0;
  int64_t steps = 0, epochs = 0;
};

Summary summarise(const Row& row) {
  std::vector<double> final_test, best_test, final_train, gap, rate;
  Summary s;
  for (const json& c : row.cells) {
    if (c.contains("diverged")) {
      ++s.diverged;
      continue;
    }
    final_test.push_back(c["final_test"]);
    best_test.push_back(c["best_test"]);
    final_train.push_back(c["final_train"]);
    gap.push_back(c["final_train"].get<double>() - c["final_test"].get<double>());
    rate.push_back(c["images_per_second"]);
    s.steps = c["steps"];
    s.epochs = c["epochs"];
  }
  s.ended = static_cast<int>(final_test.size());
  s.final_test = spread(final_test);
  s.best_test = spread(best_test);
  s.final_train = spread(final_train);
  s.gap = spread(gap);
  s.rate = spread(rate);
  return s;
}

bool have_gnuplot() { return std::system("command -v gnuplot >/dev/null 2>&1") == 0; }

// gnuplot `script` into <out>/<name>.png and .svg, each written under a temporary name and renamed.
void draw(const std::string& out, const std::string& name, const std::string& size, const std::string& script) {
  // pngcairo rather than png: libgd's png terminal draws no dashed lines.
  for (auto [format, terminal] : {std::pair{"png", "pngcairo"}, std::pair{"svg", "svg"}}) {
    write_file_with(fmt::format("{}/{}.{}", out, name, format), [&](const std::string& temporary) {
      FILE* gnuplot = popen("gnuplot", "w");
      if (!gnuplot) fail("cannot run gnuplot");
      std::fputs(fmt::format("set terminal {} size {} font ',11'; set output '{}'\n{}unset output\n", terminal, size,
                             temporary, script)
                     .c_str(),
                 gnuplot);
      if (pclose(gnuplot) != 0) fail("gnuplot failed on {}/{}.{}", out, name, format);
    });
  }
}

// Test accuracy and the train-test gap against the training-set size (log axis), a line per
// model, error bars of one standard deviation over seeds. False where every cell diverged.
bool plot_sweep(const Sweep& sweep, const std::vector<Row>& rows, const std::string& out) {
  // A line per model and shift: a colour per model; without shifts, where the sweep has both, open
  // points and a dashed line.
  std::string tests, gaps, tics;
  for (size_t m = 0; m < sweep.models.size(); ++m)
    for (int shift : sweep.shifts) {
      const std::string data = fmt::format("{}/sweep-{}-shift{}.dat", out, sweep.dirs[m], shift);
      std::string table = "# training images, test accuracy % (mean, sd over seeds), train - test (mean, sd)\n";
      bool any = false;  // a size where some seed did not diverge
      for (const Row& row : rows)
        if (row.model == m && row.shift == shift) {
          const Summary s = summarise(row);
          if (s.ended)
            table += fmt::format("{} {:.4f} {:.4f} {:.4f} {:.4f}\n", row.size, 100 * s.final_test.mean,
                                 100 * s.final_test.std, 100 * s.gap.mean, 100 * s.gap.std);
          any = any || s.ended > 0;
        }
      write_file(data, table);
      if (!any) continue;
      const bool plain = shift == 0 && sweep.shifts.size() > 1;  // open points, dashed
      const std::string style = fmt::format("with yerrorlines lw 2 pt {} ps 1.3 lc {} dt {} title '{}'", plain ? 6 : 7,
                                            m + 1, plain ? 2 : 1, series(sweep, m, shift));
      tests += fmt::format("{}'{}' using 1:2:3 {}", tests.empty() ? "" : ", ", data, style);
      gaps += fmt::format("{}'{}' using 1:4:5 {}", gaps.empty() ? "" : ", ", data, style);
    }
  if (tests.empty()) return false;
  for (size_t i = 0; i < sweep.sizes.size(); ++i) tics += fmt::format("{}{}", i ? ", " : "", sweep.sizes[i]);
  // The key goes under the plots: the lines cross every corner of them.
  const std::string script = fmt::format(
      "set multiplot layout 1,2\n"
      "set logscale x; set xtics ({}); set xlabel 'training images (log scale)'; set grid\n"
      "set key below maxrows 2 height 1.5; set bmargin 7\n"
      "set offsets graph 0.05, graph 0.05, graph 0.05, graph 0.05\n"
      "set title 'test accuracy (%), mean and sd over {} seeds'; plot {}\n"
      "set title 'train - test accuracy (points): the generalisation gap'; plot {}\n"
      "unset multiplot\n",
      tics, sweep.seeds, tests, gaps);
  draw(out, "sweep", "1400,620", script);
  return true;
}

// Learning curves of one training-set size: train loss, train accuracy and test accuracy per
// epoch, means over seeds. False where every cell diverged.
bool plot_curves(const Sweep& sweep, const std::vector<Row>& rows, const std::string& out) {
  std::string plots[3];
  const char* titles[3] = {"train loss", "train accuracy (%)", "test accuracy (%)"};
  for (const Row& row : rows) {
    const std::string data = fmt::format("{}/curve-{}-shift{}.dat", out, sweep.dirs[row.model], row.shift);
    std::map<int, std::vector<std::array<double, 3>>> epochs;
    for (const json& c : row.cells)
      if (!c.contains("diverged"))
        for (const json& e : c["history"])
          epochs[e["epoch"]].push_back({e["train_loss"], e["train_accuracy"], e.value("test_accuracy", NAN)});
    std::string table = "# epoch train_loss train_accuracy test_accuracy (means over seeds; ? where not tested)\n";
    for (const auto& [epoch, seeds] : epochs) {
      double means[3] = {0, 0, 0};
      for (const auto& v : seeds)
        for (int k = 0; k < 3; ++k) means[k] += v[k] / seeds.size();
      table += fmt::format("{} {:.6f} {:.4f} {}\n", epoch, means[0], 100 * means[1],
                           std::isnan(means[2]) ? "?" : fmt::format("{:.4f}", 100 * means[2]));
    }
    write_file(data, table);
    if (epochs.empty()) continue;
    for (int p = 0; p < 3; ++p)
      plots[p] += fmt::format("{}'{}' using 1:{} with linespoints lw 2 title '{}'", plots[p].empty() ? "" : ", ", data,
                              p + 2, series(sweep, row.model, row.shift));
  }
  if (plots[0].empty()) return false;
  std::string script = "set key bottom right; set grid; set xlabel 'epoch'; set datafile missing '?'\n"
                       "set multiplot layout 1,3\n";
  for (int p = 0; p < 3; ++p)
    script += fmt::format("set title '{}'; set ylabel '{}'; {}plot {}\n", titles[p], titles[p],
                          p == 0 ? "set logscale y; " : "unset logscale y; ", plots[p]);
  draw(out, "curves", "1500,480", script + "unset multiplot\n");
  return true;
}

// The sweep a command describes, every value checked against the data before anything is written.
Sweep describe(const CompareArgs& a, const Dataset& all_train, const Dataset& test, const std::string& data) {
  Sweep sweep;
  sweep.models = a.models;
  for (const std::string& m : a.models) {
    sweep.nets.push_back(read_net(model_path(m)));
    std::string dir = file_name_of(sweep.nets.back().name());
    for (int k = 2; std::count(sweep.dirs.begin(), sweep.dirs.end(), dir); ++k)
      dir = fmt::format("{}-{}", file_name_of(sweep.nets.back().name()), k);
    sweep.dirs.push_back(dir);
  }
  sweep.solver = read_solver(a.solver.empty() ? default_solver(model_path(a.models[0])) : a.solver);
  if (a.epochs > 0) sweep.solver.set_epochs(a.epochs);
  if (a.no_augment && !a.shifts.empty()) fail("--no-augment is --shifts 0: give one of them");
  const std::vector<int> shifts = a.no_augment      ? std::vector<int>{0}
                                  : a.shifts.empty() ? std::vector<int>{sweep.solver.augment_shift()}
                                                     : a.shifts;
  for (int shift : shifts) {
    if (shift >= all_train.rows) fail("--shifts: {} pixels is not smaller than the {}-pixel images", shift, all_train.rows);
    if (!std::count(sweep.shifts.begin(), sweep.shifts.end(), shift)) sweep.shifts.push_back(shift);  // in the order given
  }
  sweep.seeds = a.seeds;
  sweep.data = data;
  sweep.test_size = test.count;
  for (int64_t size : a.train_sizes.empty() ? std::vector<int64_t>{all_train.count} : a.train_sizes) {
    if (size > all_train.count)
      fail("--train-sizes: {} is more than the {} training images of {}", size, all_train.count, data);
    if (size < sweep.solver.batch_size())
      fail("--train-sizes: {} is fewer than a batch of {} images (the solver's batch_size)", size, sweep.solver.batch_size());
    sweep.sizes.push_back(size);
  }
  std::sort(sweep.sizes.begin(), sweep.sizes.end());
  sweep.sizes.erase(std::unique(sweep.sizes.begin(), sweep.sizes.end()), sweep.sizes.end());
  sweep.steps = a.steps > 0 ? a.steps : sweep.solver.epochs() * (sweep.sizes.back() / sweep.solver.batch_size());
  return sweep;
}

// The sweep's cells, seed by seed: an interrupted sweep has every model and condition at its
// first seeds.
std::vector<Cell> cells_of(const Sweep& sweep, const std::string& out) {
  std::vector<Cell> cells;
  for (int s = 0; s < sweep.seeds; ++s)
    for (int shift : sweep.shifts)
      for (int64_t size : sweep.sizes)
        for (size_t m = 0; m < sweep.nets.size(); ++m) {
          const int seed = static_cast<int>(sweep.solver.seed()) + s;
          cells.push_back({m, shift, size, seed, fmt::format("{}/{}/shift{}/n{}/seed{}", out, sweep.dirs[m], shift, size, seed)});
        }
  return cells;
}

// What a cell that has run says: its accuracies, or that it diverged.
std::string outcome(const json& result, const SweepProgress& progress) {
  if (result.contains("diverged")) return fmt::format("diverged ({})", result["diverged"].get<std::string>());
  return fmt::format("test {:.2f}% (best {:.2f}%), train {:.2f}%, {} steps in {}; sweep {:.0f}%, ETA {}",
                     100 * result["final_test"].get<double>(), 100 * result["best_test"].get<double>(),
                     100 * result["final_train"].get<double>(), result["steps"].get<int64_t>(),
                     duration(result["seconds"]), progress.percent(), progress.eta());
}

// Runs the cells of the sweep not run before and returns every cell's result by row. A stop
// ends the command with status 130.
std::vector<Row> run_cells(const CompareArgs& a, const Sweep& sweep, const Dataset& all_train, const Dataset& test,
                           const std::string& out) {
  const std::vector<Cell> cells = cells_of(sweep, out);
  int64_t total_steps = 0;
  for (const Cell& cell : cells) {
    const auto solver = cell_solver(sweep, cell);
    total_steps += cell.size / solver.batch_size() * solver.epochs();
  }
  std::cout << fmt::format("sweep of {}: {} training-set size(s) ({}), shifts of up to {} pixels (0: none), {} seed(s): {} cells "
                           "of about {} steps of {} images; {} test images of {}; in {}/\n",
                           fmt::join(sweep.models, ", "), sweep.sizes.size(), fmt::join(sweep.sizes, ", "),
                           fmt::join(sweep.shifts, " and "), sweep.seeds, cells.size(), sweep.steps,
                           sweep.solver.batch_size(), test.count, sweep.data, out)
            << std::flush;

  SweepProgress progress(::isatty(STDERR_FILENO), total_steps);
  std::vector<Row> rows;
  for (int shift : sweep.shifts)
    for (int64_t size : sweep.sizes)
      for (size_t m = 0; m < sweep.nets.size(); ++m) rows.push_back({m, shift, size, {}});
  std::map<int64_t, Dataset> subsets;  // the first N images: one copy per size, shared by the models
  for (size_t i = 0; i < cells.size(); ++i) {
    const Cell& cell = cells[i];
    const std::string name = fmt::format("[{:>{}}/{}] {} on {} images, seed {}", i + 1, std::to_string(cells.size()).size(),
                                         cells.size(), series(sweep, cell.model, cell.shift), cell.size, cell.seed);
    const std::string result_file = cell.dir + "/result.json";
    std::optional<json> result;
    if (fs::exists(result_file)) {
      result = json::parse(read_file(result_file, kTextLimit, "cell result"));
      progress.done(result->value("steps", int64_t{0}), false);
      std::cout << name << ": done before\n";
    } else {
      if (!subsets.count(cell.size))
        subsets[cell.size] = cell.size < all_train.count ? split_off(all_train, cell.size).first : all_train;
      progress.start(name);
      int64_t steps = 0;
      result = run_cell(sweep, cell, subsets[cell.size], test, progress, &steps);
      progress.end_line();
      if (!result) {
        std::cout << fmt::format("{}: stopped; continue the sweep with the same command and --resume{}\n", name,
                                 a.out.empty() ? fmt::format(" --out {}", out) : "");
        throw CLI::RuntimeError(130);
      }
      write_file(result_file, result->dump(2) + "\n");
      progress.done(steps, true);
      std::cout << name << ": " << outcome(*result, progress) << "\n";
    }
    std::cout << std::flush;
    for (Row& row : rows)
      if (row.model == cell.model && row.shift == cell.shift && row.size == cell.size) row.cells.push_back(*result);
  }
  return rows;
}

// A row per model, shift and size. On the console in percent; in the files as fractions.
Records summary_table(const Sweep& sweep, const std::vector<Row>& rows) {
  Records table({Column("model").shown("model"), Column("shift").shown("shifts"), Column("train_size").shown("images"),
                 Column("parameters").shown("parameters"), Column("mflops_per_image", ".3f").shown("MFLOPs/img", ".2f"),
                 Column("epochs"), Column("steps").shown("steps"), Column("seeds"), Column("diverged").shown("diverged"),
                 Column("final_test", ".6f").shown("final test %", ".2f", 100),
                 Column("best_test", ".6f").shown("best test %", ".2f", 100),
                 Column("final_train", ".6f").shown("final train %", ".2f", 100),
                 Column("gap", ".6f").shown("gap (points)", ".2f", 100),
                 Column("images_per_second", ".1f").shown("img/s", ".0f")});
  // Each model's size and cost, from one graph of it at batch 1 (a model has a row per shift and size).
  std::vector<int64_t> parameters;
  std::vector<double> mflops;
  for (const onebyone::NetParameter& model : sweep.nets) {
    Graph net(model, GraphOptions::inference());
    net.set_batch(1);
    parameters.push_back(net.param_values().count());
    mflops.push_back(2e-6 * static_cast<double>(net.multiply_adds()));
  }
  for (const Row& row : rows) {
    const Summary s = summarise(row);
    table.add({sweep.models[row.model], row.shift, row.size, parameters[row.model], mflops[row.model], s.epochs, s.steps,
               s.ended, s.diverged, s.final_test, s.best_test, s.final_train, s.gap, s.rate.mean});
  }
  return table;
}

// The table on the console, as CSV and JSON, with its caption, and the picture.
void write_results(const Sweep& sweep, const std::vector<Row>& rows, const std::string& out) {
  const Records table = summary_table(sweep, rows);
  const std::string caption = fmt::format(
      "Every cell trains about {} steps of {} images (its epochs: {} steps over the steps of one epoch at its size, "
      "rounded), tested on {} images about five times; accuracies are mean +- sd over the seeds that did not diverge "
      "({} in all); final train accuracy is measured in evaluation mode after the last step, on the cell's own "
      "training images; gap = final train - final test, in points.",
      sweep.steps, sweep.solver.batch_size(), sweep.steps, sweep.test_size, sweep.seeds);
  std::cout << "\n" << table.text() << "\n" << caption << "\n";
  json cells = json::array();
  for (const Row& row : rows)
    for (const json& c : row.cells) cells.push_back(c);
  write_file(out + "/summary.csv", table.csv());
  write_file(out + "/summary.json",
             json{{"sweep", sweep.to_json()}, {"caption", caption}, {"rows", table.json()}, {"cells", cells}}.dump(2) + "\n");
  const std::string picture = sweep.sizes.size() > 1 ? "sweep" : "curves";
  if (sweep.sizes.size() > 1 ? plot_sweep(sweep, rows, out) : plot_curves(sweep, rows, out))
    std::cout << fmt::format("wrote {0}/summary.csv, {0}/summary.json, {0}/{1}.png, {0}/{1}.svg\n", out, picture);
  else
    std::cout << fmt::format("wrote {0}/summary.csv, {0}/summary.json; no picture: every cell diverged\n", out);
}

void compare(const CompareArgs& a) {
  stop_on_signals();
  apply_threads(a.threads);
  // Everything that could stop the sweep after hours of training is checked before its first cell.
  if (!have_gnuplot())
    fail("gnuplot is not installed, and compare draws its pictures with it (apt-get install gnuplot-nox; "
         "./run build installs it)");
  const std::string data = fs::absolute(data_folder(a.data)).lexically_normal().string();
  const Dataset all_train = load(data, "train"), test = load(data, "t10k", a.test_size);
  const Sweep sweep = describe(a, all_train, test, data);
  const RunFolder folder = sweep_folder(a, sweep);
  write_file(folder.path() + "/sweep.json", sweep.to_json().dump(2) + "\n");
  write_results(sweep, run_cells(a, sweep, all_train, test, folder.path()), folder.path());
}

}  // namespace

void add_compare(CLI::App& app) {
  auto args = std::make_shared<CompareArgs>();
  CLI::App* cmd = app.add_subcommand("compare", "Train several models under one solver, across training-set sizes and "
                                                 "seeds, and compare them side by side");
  cmd->add_option("models", args->models, "Model files or names in models/")->required()->expected(2, 16);
  cmd->add_option("--train-sizes", args->train_sizes, "Training-set sizes, the first N images each (default: all)")
      ->delimiter(',')
      ->check(at_least(1));
  cmd->add_option("--seeds", args->seeds, "Runs per model and size, with seeds solver.seed, +1, ...")
      ->capture_default_str()
      ->check(at_least(1));
  cmd->add_option("--steps", args->steps,
                  "About this many training steps in every cell, in whole epochs at its size, at least one (default: "
                  "the solver's epochs over the largest size)")
      ->check(at_least(1));
  cmd->add_option("--shifts", args->shifts, "Augmentations to sweep: random shifts of up to S pixels (default: the "
                                            "solver's augment_shift)")
      ->delimiter(',')
      ->check(at_least(0));
  cmd->add_flag("--no-augment", args->no_augment, "No random shifts: --shifts 0");
  cmd->add_option("--solver", args->solver, "Solver for every model (default: the first model's)");
  cmd->add_option("--epochs", args->epochs, "Override the solver's epochs (and so the default --steps)")->check(at_least(1));
  cmd->add_option("--test-size", args->test_size, "Use only the first N test images")->check(at_least(1));
  cmd->add_option("--out", args->out, "Folder for the table, pictures and runs (default: runs/compare, or a new "
                                      "runs/compare-N)");
  cmd->add_flag("--resume", args->resume, "Continue the sweep in --out (default runs/compare), given the same command");
  add_data_option(cmd, &args->data);
  add_threads_option(cmd, &args->threads);
  cmd->callback([args] { compare(*args); });
}

}  // namespace obo::cli
