// A plugin whose parameter extension takes the number another plugin's does (number_clash.proto).
#include "framework/registry.h"
#include "layers/eltwise.h"

namespace {

struct Other : obo::EltwiseLayer {
  explicit Other(const obo::LayerParameter& p) : EltwiseLayer(p, obo::PostOp::Function::kAbs) {}
};

}  // namespace

REGISTER_LAYER("TestPluginNumberClash", Other);
