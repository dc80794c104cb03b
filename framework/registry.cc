#include "framework/registry.h"

#include <map>

namespace obo {
namespace {

std::map<std::string, LayerFactory>& factories() {
  static std::map<std::string, LayerFactory> table;  // built before any static registration uses it
  return table;
}

}  // namespace

bool register_layer(const std::string& type, LayerFactory factory) {
  if (!factories().emplace(type, std::move(factory)).second)
    fail("layer type '{}' is registered twice", type);
  return true;
}

std::unique_ptr<Layer> create_layer(const LayerParameter& config) {
  const auto it = factories().find(config.type());
  if (it == factories().end())
    fail("layer '{}': unknown layer type '{}' (known: {})", config.name(), config.type(),
         fmt::join(registered_layer_types(), ", "));
  return it->second(config);
}

std::vector<std::string> registered_layer_types() {
  std::vector<std::string> types;
  for (const auto& entry : factories()) types.push_back(entry.first);
  return types;
}

}  // namespace obo
