#include "tools/common.h"

#include <omp.h>

#include <filesystem>

#include "framework/dnnl_seam.h"
#include "framework/error.h"

namespace obo::cli {

std::string model_path(const std::string& model) {
  namespace fs = std::filesystem;
  if (fs::is_regular_file(model)) return model;
  for (const std::string& dir : {std::string("models"), std::string(ONEBYONE_SOURCE_DIR) + "/models"}) {
    const std::string candidate = dir + "/" + model + ".prototxt";
    if (fs::is_regular_file(candidate)) return candidate;
  }
  fail("no model '{}': not a file, and no models/{}.prototxt", model, model);
}

std::string default_solver(const std::string& model_file) {
  std::filesystem::path p(model_file);
  return (p.parent_path() / (p.stem().string() + ".solver.prototxt")).string();
}

std::string default_data_dir() {
  return std::filesystem::is_directory("data/mnist") ? "data/mnist" : std::string(ONEBYONE_SOURCE_DIR) + "/data/mnist";
}

Dataset load(const std::string& dir, const std::string& split, int64_t limit) {
  Dataset d = load_mnist(dir, split);
  if (limit > 0 && limit < d.count) d = split_off(d, limit).first;
  return d;
}

void add_threads_option(CLI::App* app, int* threads) {
  app->add_option("--threads", *threads, "OpenMP threads (default: all cores)")->check(CLI::NonNegativeNumber);
}

void apply_threads(int threads) {
  if (threads > 0) omp_set_num_threads(threads);
  dnn::flush_denormals();  // on the threads now in use
}

}  // namespace obo::cli
