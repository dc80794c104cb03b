// ReLU: max(x, 0), the activation of every convolution in NIN and Inception.
//   (any shape) -> (same shape, same layout)
#include "framework/registry.h"
#include "layers/eltwise.h"

namespace obo {

struct ReLU : EltwiseLayer {
  explicit ReLU(const LayerParameter& p) : EltwiseLayer(p, PostOp::Function::kRelu) {}
};

REGISTER_LAYER("ReLU", ReLU);

}  // namespace obo
