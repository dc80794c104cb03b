// Softplus: log(1 + exp(x)), a smooth ReLU.
//   (any shape) -> (same shape, same layout)
#include "framework/registry.h"
#include "layers/eltwise.h"

namespace obo {

struct Softplus : EltwiseLayer {
  explicit Softplus(const LayerParameter& p) : EltwiseLayer(p, PostOp::Function::kSoftplus) {}
};

REGISTER_LAYER("Softplus", Softplus);

}  // namespace obo
