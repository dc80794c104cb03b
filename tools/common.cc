#include "tools/common.h"

#include <omp.h>
#include <pthread.h>

#include <csignal>
#include <thread>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <set>

#include "framework/backend.h"
#include "framework/checkpoint.h"
#include "framework/error.h"
#include "framework/proto_io.h"

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

std::string data_folder(const std::string& name_or_folder) {
  if (fs::is_directory(name_or_folder)) return name_or_folder;
  const bool a_name = name_or_folder.find('/') == std::string::npos;
  if (a_name) {
    const std::string found = find_beside("data/" + name_or_folder, true);
    if (!found.empty()) return found;
  }
  const std::vector<std::string> fetchable = {"mnist", "fashion-mnist"};
  if (std::count(fetchable.begin(), fetchable.end(), name_or_folder))
    fail("the data set '{0}' is not here: `./run fetch {0}` puts it in data/{0}", name_or_folder);
  // The names known here: those ./run fetches, and the folders in data/.
  std::set<std::string> known(fetchable.begin(), fetchable.end());
  std::error_code error;
  for (const std::string& data : {find_beside("data", true)})
    if (!data.empty())
      for (const auto& entry : fs::directory_iterator(data, error))
        if (entry.is_directory()) known.insert(entry.path().filename().string());
  fail("no data set or folder '{}' (data sets: {}; or a folder with the IDX files train-images-idx3-ubyte, "
       "train-labels-idx1-ubyte, t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte)",
       name_or_folder, fmt::join(known, ", "));
}

void add_data_option(CLI::App* app, std::string* data) {
  *data = "mnist";
  app->add_option("--data", *data, "Data set: mnist, fashion-mnist (fetched by `./run fetch NAME`), or a folder of IDX files")
      ->capture_default_str();
}

Dataset load(const std::string& name_or_folder, const std::string& split, int64_t limit) {
  Dataset d = load_dataset(data_folder(name_or_folder), split);
  if (limit > 0 && limit < d.count) d = split_off(d, limit).first;
  return d;
}

void add_threads_option(CLI::App* app, int* threads) {
  app->add_option("--threads", *threads, "OpenMP threads (default: one per processor)")->check(at_least(0));
}

void apply_threads(int threads) {
  const int processors = omp_get_num_procs();
  if (threads > 4 * processors)
    fail("--threads {} is more than four per processor (this machine has {}): it would only slow training down",
         threads, processors);
  if (threads > processors)
    warn(fmt::format("--threads {} is more than the {} processors here: oneDNN's threads will take turns", threads,
                     processors));
  backend::use_threads(threads);
}

std::string file_name_of(const std::string& net_name) {
  std::string name;
  for (char c : net_name) name += std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ? c : '_';
  name.erase(0, name.find_first_not_of('.'));
  return name.empty() ? "net" : name;
}

CLI::Validator at_least(long long lowest) {
  return CLI::Validator(
      [lowest](std::string& value) -> std::string {
        size_t used = 0;
        long long n = 0;
        try {
          n = std::stoll(value, &used);
        } catch (const std::exception&) {
          used = 0;
        }
        if (used == 0 || used != value.size() || n < lowest)
          return fmt::format("must be a whole number, at least {}; got '{}'", lowest, value);
        return "";
      },
      fmt::format("INT>={}", lowest));
}

void warn(const std::string& message) { std::cerr << "warning: " << message << std::endl; }

std::atomic<bool> g_stop{false};

// Ctrl-C and SIGTERM go to one thread that does nothing but wait for them: they are blocked in
// every other thread (OpenMP's and oneDNN's inherit the mask from this one, which creates them
// later), so no computing thread is ever interrupted. With an ordinary handler, about one run in
// thirty stopped this way died inside oneDNN's convolution backward (libgomp asked for 10^11
// threads) instead of saving its checkpoint.
void stop_on_signals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::thread([signals] {
    for (int signal; sigwait(&signals, &signal) == 0;) g_stop.store(true);
  }).detach();
}

std::string duration(double seconds) {
  const int s = static_cast<int>(seconds + 0.5);
  if (s >= 3600) return fmt::format("{}h{:02d}m", s / 3600, s % 3600 / 60);
  return s >= 60 ? fmt::format("{}m{:02d}s", s / 60, s % 60) : fmt::format("{}s", s);
}

onebyone::Checkpoint checkpoint_of(const std::vector<std::string>& files, const std::string& command) {
  const std::string& path = files.back();
  onebyone::Checkpoint checkpoint = load_checkpoint(path);
  if (files.size() == 2) {
    const std::string model = model_path(files[0]);
    const std::string difference = net_difference(checkpoint.net(), read_net(model));
    if (!difference.empty())
      fail("the net in {} is not the one '{}' was trained in ({}); `onebyone {} {}` uses the checkpoint's own net", model,
           path, difference.substr(0, difference.find_last_not_of('\n') + 1), command, path);
  }
  return checkpoint;
}

void add_checkpoint_option(CLI::App* app, std::vector<std::string>* files) {
  app->add_option("files", *files, "[MODEL] CKPT: the checkpoint (it holds its net), and optionally the model file it "
                                   "must match")
      ->required()
      ->expected(1, 2);
}

}  // namespace obo::cli
