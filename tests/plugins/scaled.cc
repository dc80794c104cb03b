// A plugin with a parameter block of its own (tests/plugin_test.cc loads it): y = factor * x,
// with `[scaled.scaled] { factor: 3 }` in the layer.
#include "framework/registry.h"
#include "layers/eltwise.h"
#include "plugins/scaled.pb.h"

namespace {

struct Scaled : obo::EltwiseLayer {
  explicit Scaled(const obo::LayerParameter& p)
      : EltwiseLayer(p, obo::PostOp::Function::kLinear, p.GetExtension(scaled::scaled).factor()) {}
};

}  // namespace

REGISTER_LAYER("TestPluginScaled", Scaled);
