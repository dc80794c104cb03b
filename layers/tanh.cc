// Tanh: the hyperbolic tangent.
//   (any shape) -> (same shape, same layout)
#include "framework/registry.h"
#include "layers/eltwise.h"

namespace obo {

struct Tanh : EltwiseLayer {
  explicit Tanh(const LayerParameter& p) : EltwiseLayer(p, PostOp::Function::kTanh) {}
};

REGISTER_LAYER("Tanh", Tanh);

}  // namespace obo
