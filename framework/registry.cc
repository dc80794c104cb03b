#include "framework/registry.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor_database.h>
#include <google/protobuf/message.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <regex>
#include <set>
#include <sstream>

namespace obo {
namespace {

namespace fs = std::filesystem;

struct Plugin {
  std::string path;  // as given
  dev_t device = 0;
  ino_t inode = 0;
  std::vector<std::string> types;
  std::vector<const google::protobuf::FieldDescriptor*> extensions;  // of LayerParameter
};

struct Registry {
  std::map<std::string, LayerFactory> factories;
  std::map<std::string, std::string> origin;  // type -> "OneByOne", or the plugin that registered it
  std::string loading = "OneByOne";           // who is registering now
  std::vector<std::pair<std::string, std::string>> clashes;  // (type, its first origin), in a probe
  std::vector<Plugin> plugins;
};

Registry& registry() {
  static Registry r;  // built before any static registration uses it
  return r;
}

// The extensions of LayerParameter that the libraries loaded so far declare. Asked of the
// generated database each time: the pool's FindAllExtensions reads it only once.
std::vector<const google::protobuf::FieldDescriptor*> layer_extensions() {
  std::vector<int> numbers;
  google::protobuf::DescriptorPool::internal_generated_database()->FindAllExtensionNumbers(
      LayerParameter::descriptor()->full_name(), &numbers);
  std::vector<const google::protobuf::FieldDescriptor*> found;
  for (int number : numbers)
    if (const auto* e = google::protobuf::DescriptorPool::generated_pool()->FindExtensionByNumber(LayerParameter::descriptor(), number))
      found.push_back(e);
  return found;
}

// Which plugin declared a LayerParameter extension (nullptr: none of them).
const Plugin* owner_of(const google::protobuf::FieldDescriptor* extension) {
  for (const Plugin& p : registry().plugins)
    if (std::count(p.extensions.begin(), p.extensions.end(), extension)) return &p;
  return nullptr;
}

// What loading a plugin in a child process showed: Protobuf aborts the process that loads a
// second declaration of an extension number or a schema file, and a refusal must name both
// parties; a layer type registered twice or none at all is found there too, so that a refused
// plugin is never loaded into this process.
struct Probe {
  bool survived = true;
  std::string said;  // the child's stderr, or what it reported of the registry
};

// The child's exit statuses; any other (a sanitizer's report, an exit() in a static initialiser)
// means the library cannot be loaded safely.
constexpr int kLoaded = 0, kClash = 2, kNoLayer = 3, kThrew = 4, kNotOpened = 5;

Probe probe(const std::string& path, const std::string& file) {
  int fds[2];
  if (pipe(fds) != 0) fail("cannot load plugin '{}': no pipe to try it in a child process", path);
  const pid_t child = fork();
  if (child < 0) fail("cannot load plugin '{}': no child process to try it in", path);
  if (child == 0) {
    dup2(fds[1], STDERR_FILENO);
    close(fds[0]);
    Registry& r = registry();
    const size_t types = r.factories.size();
    r.clashes.clear();
    // glibc declares dlopen as not throwing, so a try around a plain call would be compiled away;
    // Protobuf throws its FATAL (an exception) out of the library's static initialisers.
    static void* (*volatile const open_library)(const char*, int) = dlopen;
    try {
      if (!open_library(file.c_str(), RTLD_NOW | RTLD_GLOBAL)) _exit(kNotOpened);  // the real load reports dlerror()
    } catch (const std::exception& e) {  // Protobuf's FATAL, thrown where it does not abort
      const std::string what = e.what();
      if (write(STDERR_FILENO, what.data(), what.size()) < 0) _exit(1);
      _exit(kThrew);
    } catch (...) {
      _exit(kThrew);
    }
    if (!r.clashes.empty()) {
      const std::string clash = r.clashes.front().first + "\t" + r.clashes.front().second;
      if (write(STDERR_FILENO, clash.data(), clash.size()) < 0) _exit(1);
      _exit(kClash);
    }
    _exit(r.factories.size() == types ? kNoLayer : kLoaded);
  }
  close(fds[1]);
  Probe p;
  char buffer[4096];
  for (ssize_t n; (n = read(fds[0], buffer, sizeof buffer)) > 0;) p.said.append(buffer, static_cast<size_t>(n));
  close(fds[0]);
  int status = 0;
  waitpid(child, &status, 0);
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (code == kLoaded || code == kNotOpened) return p;
  if (code != kClash && code != kNoLayer) {
    p.survived = false;
    if (p.said.empty())
      p.said = WIFSIGNALED(status) ? fmt::format("killed by signal {}", WTERMSIG(status))
                                   : fmt::format("the trial process exited with status {}", code);
    return p;
  }
  if (code == kClash) {
    const size_t tab = p.said.find('\t');
    fail("plugin '{}' registers layer type '{}', which {} already registered", path, p.said.substr(0, tab),
         p.said.substr(tab + 1));
  }
  if (code == kNoLayer) fail("plugin '{}' registers no layer type (no REGISTER_LAYER in it?)", path);
  return p;
}

// A Protobuf abort in a plugin's loading, in words that name the other party.
[[noreturn]] void refuse_schema(const std::string& path, const std::string& said) {
  std::smatch m;
  // Protobuf says it as "field number 1001" (the extension registry) or "{ swish = 1001 }" (the
  // descriptor database), depending on which sees the second declaration first.
  if (std::regex_search(said, m, std::regex(R"(field number (\d+)|\{ \w+ = (\d+) \})"))) {
    const int number = std::stoi(m[1].matched ? m[1] : m[2]);
    const google::protobuf::FieldDescriptor* taken =
        google::protobuf::DescriptorPool::generated_pool()->FindExtensionByNumber(LayerParameter::descriptor(), number);
    const Plugin* other = taken ? owner_of(taken) : nullptr;
    fail("plugin '{}' declares extension number {} of onebyone.LayerParameter, which {} already declares{}: each "
         "plugin's parameters need a number of their own (1000 and up)",
         path, number, other ? fmt::format("plugin '{}'", other->path) : "OneByOne",
         taken ? fmt::format(" as [{}]", taken->full_name()) : "");
  }
  if (std::regex_search(said, m, std::regex(R"(File already exists in database: (\S+))"))) {
    const google::protobuf::FileDescriptor* file = google::protobuf::DescriptorPool::generated_pool()->FindFileByName(m[1]);
    const Plugin* other = nullptr;
    for (const Plugin& p : registry().plugins)
      for (const auto* e : p.extensions)
        if (file && e->file() == file) other = &p;
    fail("plugin '{}' holds the schema file '{}', which {} already loaded: give each plugin's .proto a name of its own",
         path, std::string(m[1]), other ? fmt::format("plugin '{}'", other->path) : "OneByOne or another library");
  }
  // Otherwise the line that says most: the first error reported, else the last line.
  std::string line, first_error, last;
  for (std::stringstream lines(said); std::getline(lines, line);) {
    if (line.empty()) continue;
    const bool error = line.find("ERROR") != std::string::npos || line.find("FATAL") != std::string::npos;
    if (error && first_error.empty()) first_error = line;
    last = line;
  }
  fail("plugin '{}' cannot be loaded safely: in a trial load, {}", path, first_error.empty() ? last : first_error);
}

}  // namespace

bool register_layer(const std::string& type, LayerFactory factory) {
  Registry& r = registry();
  if (r.factories.emplace(type, std::move(factory)).second) {
    r.origin[type] = r.loading;
    return true;
  }
  r.clashes.emplace_back(type, r.origin[type]);
  return false;
}

std::unique_ptr<Layer> create_layer(const LayerParameter& config) {
  const auto it = registry().factories.find(config.type());
  if (it == registry().factories.end()) {
    const auto& plugins = loaded_plugins();
    fail("layer '{}': unknown layer type '{}' (known: {}; {})", config.name(), config.type(),
         fmt::join(registered_layer_types(), ", "),
         plugins.empty() ? "no plugins loaded: --plugin LIB or ONEBYONE_PLUGINS loads layers from shared libraries"
                         : fmt::format("plugins loaded: {}", fmt::join(plugins, ", ")));
  }
  // A plugin's parameter block belongs to the plugin's own layer types.
  std::vector<const google::protobuf::FieldDescriptor*> fields;
  config.GetReflection()->ListFields(config, &fields);
  for (const auto* field : fields) {
    if (!field->is_extension()) continue;
    const Plugin* owner = owner_of(field);
    if (owner && !std::count(owner->types.begin(), owner->types.end(), config.type()))
      fail("layer '{}' ({}): [{}] is a parameter of {} (plugin '{}'), not of {}", config.name(), config.type(),
           field->full_name(), fmt::join(owner->types, ", "), owner->path, config.type());
  }
  return it->second(config);
}

std::vector<std::string> registered_layer_types() {
  std::vector<std::string> types;
  for (const auto& entry : registry().factories) types.push_back(entry.first);
  return types;
}

std::vector<std::string> load_plugin(const std::string& path) {
  Registry& r = registry();
  // A path like any file argument: relative to the working folder (dlopen would search the
  // library path for a bare name instead).
  struct stat file {};
  if (::stat(path.c_str(), &file) != 0 || !S_ISREG(file.st_mode))
    fail("cannot load plugin '{}': {}", path,
         ::stat(path.c_str(), &file) != 0 ? "no such file" : "not a file");
  for (const Plugin& p : r.plugins)
    if (p.device == file.st_dev && p.inode == file.st_ino) return p.types;  // the same file again: loaded already
  const std::string absolute = fs::absolute(path).string();
  if (const Probe p = probe(path, absolute); !p.survived) refuse_schema(path, p.said);

  // The child survived: neither a schema nor a type clashes, and there are layers to register.
  const std::vector<std::string> before = registered_layer_types();
  const auto extensions_before = layer_extensions();
  r.loading = fmt::format("plugin '{}'", path);
  // RTLD_GLOBAL: the plugin's Protobuf messages join the generated pool, so that model files can
  // name its parameter extensions.
  void* handle = dlopen(absolute.c_str(), RTLD_NOW | RTLD_GLOBAL);
  r.loading = "OneByOne";
  if (!handle) fail("cannot load plugin '{}': {}", path, dlerror());
  Plugin plugin{path, file.st_dev, file.st_ino, {}, {}};
  for (const std::string& type : registered_layer_types())
    if (!std::binary_search(before.begin(), before.end(), type)) plugin.types.push_back(type);
  for (const auto* e : layer_extensions())
    if (!std::count(extensions_before.begin(), extensions_before.end(), e)) plugin.extensions.push_back(e);
  r.plugins.push_back(std::move(plugin));
  return r.plugins.back().types;
}

std::vector<std::string> loaded_plugins() {
  std::vector<std::string> paths;
  for (const Plugin& p : registry().plugins) paths.push_back(p.path);
  return paths;
}

}  // namespace obo
