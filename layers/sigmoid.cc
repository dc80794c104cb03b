// Sigmoid: 1 / (1 + exp(-x)).
//   (any shape) -> (same shape, same layout)
#include "framework/registry.h"
#include "layers/eltwise.h"

namespace obo {

struct Sigmoid : EltwiseLayer {
  explicit Sigmoid(const LayerParameter& p) : EltwiseLayer(p, PostOp::Function::kSigmoid) {}
};

REGISTER_LAYER("Sigmoid", Sigmoid);

}  // namespace obo
