// The layer registry: a layer file registers its type at its foot,
//
//   REGISTER_LAYER("MaxPool", MaxPoolLayer);
//
// and nets name it by that string. The shipped layers are part of libonebyone and register when
// it loads; layers outside the tree register the same way from a shared library of their own,
// loaded into any program with load_plugin() (the tool's --plugin).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "framework/layer.h"

namespace obo {

using LayerFactory = std::function<std::unique_ptr<Layer>(const LayerParameter&)>;

// Called from static initialisers, so it never throws: a type registered twice keeps its first
// factory, and load_plugin() reports the clash.
bool register_layer(const std::string& type, LayerFactory factory);
// Throws, listing the known types and the plugins loaded, when the type is unknown, and naming
// the block when the layer carries a plugin's parameters that are not its own type's.
std::unique_ptr<Layer> create_layer(const LayerParameter& config);
std::vector<std::string> registered_layer_types();  // sorted

// Loads a shared library whose layers register themselves; returns the types it registered.
// `path` is a path like any file argument (relative to the working folder). The same file again
// (by any path) is loaded once. Throws naming the library, and the other party, if it cannot be
// loaded, registers a type already registered, declares a LayerParameter extension number or a
// schema file that another library declares, or registers no type: the library is first loaded
// in a child process, so that none of these leaves it half loaded here, nor aborts (as Protobuf
// does on a second declaration).
std::vector<std::string> load_plugin(const std::string& path);
std::vector<std::string> loaded_plugins();  // the paths, as given

}  // namespace obo

#define OBO_CONCAT_INNER(a, b) a##b
#define OBO_CONCAT(a, b) OBO_CONCAT_INNER(a, b)
#define REGISTER_LAYER(type, Class)                                                        \
  static const bool OBO_CONCAT(registered_layer_, __LINE__) = ::obo::register_layer(       \
      type, [](const ::obo::LayerParameter& p) -> std::unique_ptr<::obo::Layer> {          \
        return std::make_unique<Class>(p);                                                  \
      })
