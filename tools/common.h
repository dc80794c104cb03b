// What the subcommands of `onebyone` share: finding model files, loading MNIST, threads, run
// folders, warnings.
#pragma once

#include <CLI/CLI.hpp>

#include <string>

#include "framework/data/dataset.h"
#include "onebyone.pb.h"

namespace obo::cli {

// A model given as a path, or as a name in models/ ("nin" -> models/nin.prototxt), looked up
// from the working folder and then from the source tree the tool was built from.
std::string model_path(const std::string& model);
// The solver beside a model: models/nin.prototxt -> models/nin.solver.prototxt.
std::string default_solver(const std::string& model_file);

// MNIST from `dir` (as fetched by ./run), optionally cut to its first `limit` examples.
Dataset load(const std::string& dir, const std::string& split, int64_t limit = 0);
// --data DIR, by default where ./run puts MNIST (data/mnist here, or in the source tree).
void add_data_option(CLI::App* app, std::string* dir);

// --threads: OpenMP threads for oneDNN and our own loops (0: the OpenMP default, one per
// processor). More than four per processor is refused; more than one per processor is allowed
// with a warning (a resumed run matches bit for bit only with the thread count it began with).
void add_threads_option(CLI::App* app, int* threads);
void apply_threads(int threads);

// A net's name as a file name: letters, digits, '.', '-' and '_' only, no leading dot, so that
// "runs/" + it stays inside runs/.
std::string file_name_of(const std::string& net_name);

// "warning: ..." on stderr.
void warn(const std::string& message);

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

}  // namespace obo::cli
