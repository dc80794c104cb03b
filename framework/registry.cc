#include "framework/registry.h"

#include <dlfcn.h>

#include <algorithm>
#include <map>

namespace obo {
namespace {

struct Registry {
  std::map<std::string, LayerFactory> factories;
  std::vector<std::string> clashes;  // types registered twice, since the last load_plugin()
  std::vector<std::string> plugins;
};

Registry& registry() {
  static Registry r;  // built before any static registration uses it
  return r;
}

}  // namespace

bool register_layer(const std::string& type, LayerFactory factory) {
  if (registry().factories.emplace(type, std::move(factory)).second) return true;
  registry().clashes.push_back(type);
  return false;
}

std::unique_ptr<Layer> create_layer(const LayerParameter& config) {
  const auto it = registry().factories.find(config.type());
  if (it == registry().factories.end()) {
    const auto& plugins = registry().plugins;
    fail("layer '{}': unknown layer type '{}' (known: {}; {})", config.name(), config.type(),
         fmt::join(registered_layer_types(), ", "),
         plugins.empty() ? "no plugins loaded: --plugin LIB or ONEBYONE_PLUGINS loads layers from shared libraries"
                         : fmt::format("plugins loaded: {}", fmt::join(plugins, ", ")));
  }
  return it->second(config);
}

std::vector<std::string> registered_layer_types() {
  std::vector<std::string> types;
  for (const auto& entry : registry().factories) types.push_back(entry.first);
  return types;
}

std::vector<std::string> load_plugin(const std::string& path) {
  const std::vector<std::string> before = registered_layer_types();
  registry().clashes.clear();
  // RTLD_GLOBAL: the plugin's Protobuf messages join the generated pool, so that model files can
  // name its parameter extensions.
  if (!dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL)) fail("cannot load plugin '{}': {}", path, dlerror());
  if (!registry().clashes.empty())
    fail("plugin '{}' registers layer type '{}', which is already registered", path, registry().clashes.front());
  std::vector<std::string> added;
  for (const std::string& type : registered_layer_types())
    if (!std::binary_search(before.begin(), before.end(), type)) added.push_back(type);
  if (added.empty()) fail("plugin '{}' registers no layer type (no REGISTER_LAYER in it?)", path);
  registry().plugins.push_back(path);
  return added;
}

const std::vector<std::string>& loaded_plugins() { return registry().plugins; }

}  // namespace obo
