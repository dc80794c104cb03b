// The layer registry: a layer file registers its type at its foot,
//
//   REGISTER_LAYER("MaxPool", MaxPoolLayer);
//
// and nets name it by that string. Layers are built as an OBJECT library (see CMakeLists.txt) so
// that no registration is dropped by the linker.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "framework/layer.h"

namespace obo {

using LayerFactory = std::function<std::unique_ptr<Layer>(const LayerParameter&)>;

bool register_layer(const std::string& type, LayerFactory factory);
// Throws, listing the known types, when the type is unknown.
std::unique_ptr<Layer> create_layer(const LayerParameter& config);
std::vector<std::string> registered_layer_types();  // sorted

}  // namespace obo

#define OBO_CONCAT_INNER(a, b) a##b
#define OBO_CONCAT(a, b) OBO_CONCAT_INNER(a, b)
#define REGISTER_LAYER(type, Class)                                                        \
  static const bool OBO_CONCAT(registered_layer_, __LINE__) = ::obo::register_layer(       \
      type, [](const ::obo::LayerParameter& p) -> std::unique_ptr<::obo::Layer> {          \
        return std::make_unique<Class>(p);                                                  \
      })
