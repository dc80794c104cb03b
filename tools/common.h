// What the subcommands of `onebyone` share: finding model files, loading MNIST, threads, run
// folders, warnings.
#pragma once

#include <CLI/CLI.hpp>

#include <atomic>
#include <string>

#include "framework/data/dataset.h"
#include "onebyone.pb.h"

namespace obo::cli {

// The checkpoint of "[MODEL] CKPT" (test, export): a MODEL given beside it must describe the same
// net (the batch size aside), or the weights would be used in a net they were not trained in.
onebyone::Checkpoint checkpoint_of(const std::vector<std::string>& files, const std::string& command);
void add_checkpoint_option(CLI::App* app, std::vector<std::string>* files);

// A model given as a path, or as a name in models/ ("nin" -> models/nin.prototxt), looked up
// from the working folder and then from the source tree the tool was built from.
std::string model_path(const std::string& model);
// The solver beside a model: models/nin.prototxt -> models/nin.solver.prototxt.
std::string default_solver(const std::string& model_file);

// The folder of a data set given by name or as a folder: "mnist" and "fashion-mnist" (and any
// other folder in data/) are data/NAME, where `./run fetch NAME` puts them, here or in the source
// tree; anything else must be a folder. An unknown name lists the known ones.
std::string data_folder(const std::string& name_or_folder);
// A split of that data set, optionally cut to its first `limit` examples.
Dataset load(const std::string& name_or_folder, const std::string& split, int64_t limit = 0);
// --data NAME|DIR, by default mnist.
void add_data_option(CLI::App* app, std::string* data);

// --threads: OpenMP threads for oneDNN and our own loops (0: the OpenMP default, one per
// processor). More than four per processor is refused; more than one per processor is allowed
// with a warning (a resumed run matches bit for bit only with the thread count it began with).
void add_threads_option(CLI::App* app, int* threads);
void apply_threads(int threads);

// A net's name as a file name: letters, digits, '.', '-' and '_' only, no leading dot, so that
// "runs/" + it stays inside runs/.
std::string file_name_of(const std::string& net_name);

// A check for a whole-number option, whose error names the value: "--seeds: must be a whole
// number, at least 1; got '0'". (CLI11's PositiveNumber prints a range up to 1.8e308.)
CLI::Validator at_least(long long lowest);

// "warning: ..." on stderr.
void warn(const std::string& message);

// After stop_on_signals(), Ctrl-C and SIGTERM set g_stop: a run given it as TrainerOptions::stop
// writes its checkpoint and stops.
extern std::atomic<bool> g_stop;
void stop_on_signals();

// "45s", "3m07s", "2h05m".
std::string duration(double seconds);

// The subcommands, each in tools/cmd_<name>.cc.
void add_train(CLI::App& app);
void add_test(CLI::App& app);
void add_predict(CLI::App& app);
void add_summary(CLI::App& app);
void add_time(CLI::App& app);
void add_compare(CLI::App& app);
void add_cost(CLI::App& app);
void add_visualize(CLI::App& app);
void add_graph(CLI::App& app);
void add_export(CLI::App& app);
void add_import(CLI::App& app);
void add_quantize(CLI::App& app);

}  // namespace obo::cli
