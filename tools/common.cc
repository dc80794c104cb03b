#include "tools/common.h"

#include <omp.h>

#include <filesystem>
#include <iostream>

#include "framework/dnnl_seam.h"
#include "framework/error.h"

namespace obo::cli {

namespace {

namespace fs = std::filesystem;

// `relative` from the working folder, else beside the tool: P/share/onebyone/... where it is
// installed, the source tree's where it was built (build/onebyone beside models/ and data/).
std::string find_beside(const std::string& relative, bool folder) {
  const fs::path tool = fs::read_symlink("/proc/self/exe").parent_path();
  for (const fs::path& dir : {fs::path("."), tool / ".." / "share" / "onebyone", tool / ".."}) {
    const fs::path candidate = dir / relative;
    if (folder ? fs::is_directory(candidate) : fs::is_regular_file(candidate))
      return dir == "." ? relative : fs::weakly_canonical(candidate).string();
  }
  return "";
}

}  // namespace

std::string model_path(const std::string& model) {
  // A path to anything but a folder is the model: read_file() says so if it is not a file.
  if (fs::exists(model) && !fs::is_directory(model)) return model;
  const std::string found = find_beside("models/" + model + ".prototxt", false);
  if (found.empty()) fail("no model '{}': not a file, and no models/{}.prototxt", model, model);
  return found;
}

std::string default_solver(const std::string& model_file) {
  std::filesystem::path p(model_file);
  return (p.parent_path() / (p.stem().string() + ".solver.prototxt")).string();
}

void add_data_option(CLI::App* app, std::string* dir) {
  *dir = find_beside("data/mnist", true);
  if (dir->empty()) *dir = "data/mnist";
  app->add_option("--data", *dir, "Folder with the MNIST IDX files")->capture_default_str();
}

Dataset load(const std::string& dir, const std::string& split, int64_t limit) {
  if (!fs::is_directory(dir))
    fail("no MNIST folder '{}': `./run fetch` downloads MNIST into data/mnist, or give --data DIR", dir);
  Dataset d = load_mnist(dir, split);
  if (limit > 0 && limit < d.count) d = split_off(d, limit).first;
  return d;
}

void add_threads_option(CLI::App* app, int* threads) {
  app->add_option("--threads", *threads, "OpenMP threads (default: one per processor)")->check(CLI::NonNegativeNumber);
}

void apply_threads(int threads) {
  const int processors = omp_get_num_procs();
  if (threads > 4 * processors)
    fail("--threads {} is more than four per processor (this machine has {}): it would only slow training down",
         threads, processors);
  if (threads > processors)
    warn(fmt::format("--threads {} is more than the {} processors here: oneDNN's threads will take turns", threads,
                     processors));
  if (threads > 0) omp_set_num_threads(threads);
  dnn::flush_denormals();  // on the threads now in use
}

std::string file_name_of(const std::string& net_name) {
  std::string name;
  for (char c : net_name) name += std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ? c : '_';
  name.erase(0, name.find_first_not_of('.'));
  return name.empty() ? "net" : name;
}

void warn(const std::string& message) { std::cerr << "warning: " << message << std::endl; }

}  // namespace obo::cli
