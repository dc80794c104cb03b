// onebyone compare MODEL_A MODEL_B [...]: trains each model under one solver, data order and
// set of seeds, then prints a side-by-side table (parameters, MFLOPs per image, final and best
// test accuracy as mean +- standard deviation over seeds, final train accuracy measured in
// evaluation mode, the generalisation gap, time per epoch, images/s), writes the learning
// curves as PNG and SVG (with gnuplot) and the numbers as CSV and JSON.
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "framework/io.h"
#include "framework/proto_io.h"
#include "framework/trainer.h"
#include "tools/common.h"

namespace obo::cli {
namespace {

struct CompareArgs {
  std::vector<std::string> models;
  std::string solver, data, out;
  int seeds = 1, epochs = 0, threads = 0;
  int64_t train_size = 0, test_size = 0;
};

struct Stat {
  double mean = 0, spread = 0;  // spread: sample standard deviation (0 for one seed)
};

Stat stat(const std::vector<double>& xs) {
  Stat s;
  for (double x : xs) s.mean += x / xs.size();
  if (xs.size() > 1) {
    for (double x : xs) s.spread += (x - s.mean) * (x - s.mean);
    s.spread = std::sqrt(s.spread / (xs.size() - 1));
  }
  return s;
}

struct ModelResult {
  std::string name;
  int64_t params = 0;
  double mflops = 0;  // forward, per image
  std::vector<double> final_test, best_test, final_train, epoch_seconds, images_per_second;
  std::vector<std::vector<onebyone::EpochMetrics>> runs;  // per seed
};

// Mean over seeds of one metric of one epoch.
double curve(const ModelResult& m, size_t epoch, double (onebyone::EpochMetrics::*metric)() const) {
  double sum = 0;
  for (const auto& run : m.runs) sum += (run[epoch].*metric)();
  return sum / m.runs.size();
}

std::string pct(const Stat& s) { return fmt::format("{:.2f} +- {:.2f}", 100 * s.mean, 100 * s.spread); }

bool have_gnuplot() { return std::system("command -v gnuplot >/dev/null 2>&1") == 0; }

// Learning curves with gnuplot, each picture written under a temporary name and then renamed.
void plot(const std::vector<ModelResult>& results, const std::string& out) {
  std::string script = "set key bottom right; set grid; set xlabel 'epoch'; set xtics 1\n";
  std::string plots[3];
  const char* titles[3] = {"train loss", "train accuracy (%)", "test accuracy (%)"};
  for (size_t m = 0; m < results.size(); ++m) {
    const std::string data = fmt::format("{}/curve-{}.dat", out, file_name_of(results[m].name));
    std::string table = "# epoch train_loss train_accuracy test_accuracy (means over seeds)\n";
    for (size_t e = 0; e < results[m].runs[0].size(); ++e)
      table += fmt::format("{} {:.6f} {:.4f} {:.4f}\n", e + 1, curve(results[m], e, &onebyone::EpochMetrics::train_loss),
                           100 * curve(results[m], e, &onebyone::EpochMetrics::train_accuracy),
                           100 * curve(results[m], e, &onebyone::EpochMetrics::test_accuracy));
    write_file(data, table);
    for (int p = 0; p < 3; ++p)
      plots[p] += fmt::format("{}'{}' using 1:{} with linespoints lw 2 title '{}'", m ? ", " : "", data, p + 2,
                              file_name_of(results[m].name));
  }
  std::string body = "set multiplot layout 1,3\n";
  for (int p = 0; p < 3; ++p)
    body += fmt::format("set title '{}'; set ylabel '{}'; {}plot {}\n", titles[p], titles[p], p == 0 ? "set logscale y; " : "unset logscale y; ",
                        plots[p]);
  body += "unset multiplot\n";
  for (const char* format : {"png", "svg"}) {
    write_file_with(fmt::format("{}/curves.{}", out, format), [&](const std::string& temporary) {
      FILE* gnuplot = popen("gnuplot", "w");
      if (!gnuplot) fail("cannot run gnuplot");
      std::fputs((script + fmt::format("set terminal {} size 1500,480 font ',11'; set output '{}'\n", format, temporary) + body +
                  "unset output\n")
                     .c_str(),
                 gnuplot);
      if (pclose(gnuplot) != 0) fail("gnuplot failed on the learning curves");
    });
  }
}

void compare(const CompareArgs& a) {
  apply_threads(a.threads);
  std::vector<onebyone::NetParameter> nets;
  for (const std::string& m : a.models) nets.push_back(read_net(model_path(m)));
  onebyone::SolverParameter solver = read_solver(a.solver.empty() ? default_solver(model_path(a.models[0])) : a.solver);
  if (a.epochs > 0) solver.set_epochs(a.epochs);
  // Everything that could stop the comparison after hours of training is checked first.
  if (!have_gnuplot())
    fail("gnuplot is not installed, and compare draws its learning curves with it (apt-get install gnuplot-nox; "
         "./run build installs it)");
  if (!a.out.empty() && RunFolder::holds_run(a.out))
    fail("--out '{}' already holds a comparison or a run: choose another folder", a.out);
  const RunFolder folder = a.out.empty() ? RunFolder::claim_next("runs/compare") : RunFolder::claim(a.out);
  const std::string& out = folder.path();
  const Dataset train = load(a.data, "train", a.train_size), test = load(a.data, "t10k", a.test_size);
  std::cout << fmt::format("comparing {} on {} training and {} test images, {} epochs, {} seed(s), one solver\n",
                           fmt::join(a.models, ", "), train.count, test.count, solver.epochs(), a.seeds)
            << std::flush;

  std::vector<ModelResult> results;
  for (const auto& net : nets) {
    ModelResult r;
    r.name = net.name();
    for (int s = 0; s < a.seeds; ++s) {
      onebyone::SolverParameter run_solver = solver;
      run_solver.set_seed(solver.seed() + s);
      const std::string run_dir = fmt::format("{}/{}/seed{}", out, file_name_of(r.name), run_solver.seed());
      std::filesystem::create_directories(run_dir);
      RunFiles files(run_dir);
      TrainerOptions options;
      options.reporters = {&files};
      Trainer trainer(net, run_solver, train, test, options);
      const TrainResult t = trainer.run();
      Graph& g = trainer.graph();
      if (s == 0) {
        r.params = g.param_values().count();
        g.set_batch(1);
        r.mflops = 2e-6 * static_cast<double>(g.multiply_adds());
      }
      r.final_test.push_back(t.last_test_accuracy);
      r.best_test.push_back(t.best_test_accuracy);
      r.final_train.push_back(evaluate(g, train, trainer.solver().test_batch_size()).accuracy);
      r.epoch_seconds.push_back(t.seconds / t.history.size());
      r.images_per_second.push_back(t.images_per_second);
      r.runs.push_back(t.history);
      std::cout << fmt::format("  {} seed {}: test {:.2f}% (best {:.2f}%), train {:.2f}%, {:.0f} img/s\n", r.name,
                               run_solver.seed(), 100 * t.last_test_accuracy, 100 * t.best_test_accuracy,
                               100 * r.final_train.back(), t.images_per_second)
                << std::flush;
    }
    results.push_back(std::move(r));
  }

  const std::string header = fmt::format("{:<12} {:>11} {:>10} {:>16} {:>16} {:>16} {:>8} {:>9} {:>8}", "model", "parameters",
                                         "MFLOPs/img", "final test %", "best test %", "final train %", "gap %", "s/epoch", "img/s");
  std::cout << "\n" << header << "\n";
  std::string csv =
      "model,parameters,mflops_per_image,final_test_mean,final_test_std,best_test_mean,best_test_std,final_train_mean,"
      "gap,seconds_per_epoch,images_per_second\n";
  std::string curves = "model,seed,epoch,train_loss,train_accuracy,test_accuracy\n";
  nlohmann::json models = nlohmann::json::array();
  for (const ModelResult& r : results) {
    const Stat final_test = stat(r.final_test), best = stat(r.best_test), final_train = stat(r.final_train);
    const double gap = final_train.mean - final_test.mean;
    const double seconds = stat(r.epoch_seconds).mean, rate = stat(r.images_per_second).mean;
    std::cout << fmt::format("{:<12} {:>11} {:>10.2f} {:>16} {:>16} {:>16} {:>8.2f} {:>9.1f} {:>8.0f}\n", r.name, r.params,
                             r.mflops, pct(final_test), pct(best), pct(final_train), 100 * gap, seconds, rate);
    csv += fmt::format("{},{},{:.3f},{:.6f},{:.6f},{:.6f},{:.6f},{:.6f},{:.6f},{:.2f},{:.1f}\n", r.name, r.params, r.mflops,
                       final_test.mean, final_test.spread, best.mean, best.spread, final_train.mean, gap, seconds, rate);
    for (size_t s = 0; s < r.runs.size(); ++s)
      for (const auto& e : r.runs[s])
        curves += fmt::format("{},{},{},{:.6f},{:.6f},{:.6f}\n", r.name, solver.seed() + s, e.epoch(), e.train_loss(),
                              e.train_accuracy(), e.test_accuracy());
    models.push_back({{"model", r.name},
                      {"parameters", r.params},
                      {"mflops_per_image", r.mflops},
                      {"final_test_accuracy", final_test.mean},
                      {"final_test_std", final_test.spread},
                      {"best_test_accuracy", best.mean},
                      {"best_test_std", best.spread},
                      {"final_train_accuracy", final_train.mean},
                      {"gap", gap},
                      {"seconds_per_epoch", seconds},
                      {"images_per_second", rate}});
  }
  write_file(out + "/summary.csv", csv);
  write_file(out + "/curves.csv", curves);
  write_file(out + "/summary.json", nlohmann::json{{"models", models}}.dump(2) + "\n");
  std::cout << "\naccuracies are mean +- standard deviation over seeds; train accuracy is measured in evaluation mode\n"
               "after the last epoch; gap = final train - final test.\n";
  plot(results, out);
  std::cout << fmt::format("wrote {0}/summary.csv, {0}/summary.json, {0}/curves.csv, {0}/curves.png, {0}/curves.svg\n", out);
}

}  // namespace

void add_compare(CLI::App& app) {
  auto args = std::make_shared<CompareArgs>();
  CLI::App* cmd = app.add_subcommand("compare", "Train several models under one solver and compare them side by side");
  cmd->add_option("models", args->models, "Model files or names in models/")->required()->expected(2, 16);
  cmd->add_option("--solver", args->solver, "Solver for every model (default: the first model's)");
  cmd->add_option("--seeds", args->seeds, "Runs per model, with seeds solver.seed, +1, ...")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--epochs", args->epochs, "Override the solver's epochs")->check(CLI::PositiveNumber);
  cmd->add_option("--train-size", args->train_size, "Use only the first N training images")->check(CLI::PositiveNumber);
  cmd->add_option("--test-size", args->test_size, "Use only the first N test images")->check(CLI::PositiveNumber);
  cmd->add_option("--out", args->out, "Folder for the table, curves and checkpoints (default: runs/compare, or a new "
                                      "runs/compare-N)");
  add_data_option(cmd, &args->data);
  add_threads_option(cmd, &args->threads);
  cmd->callback([args] { compare(*args); });
}

}  // namespace obo::cli
