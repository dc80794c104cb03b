// LeakyReLU: x > 0 ? x : negative_slope * x (leaky_relu { negative_slope: 0.01 }).
//   (any shape) -> (same shape, same layout)
#include <cmath>

#include "framework/registry.h"
#include "layers/eltwise.h"

namespace obo {

struct LeakyReLU : EltwiseLayer {
  explicit LeakyReLU(const LayerParameter& p)
      : EltwiseLayer(p, PostOp::Function::kRelu, p.leaky_relu().negative_slope()) {
    if (!std::isfinite(p.leaky_relu().negative_slope()))
      error("leaky_relu.negative_slope must be finite, got {}", p.leaky_relu().negative_slope());
  }
};

REGISTER_LAYER("LeakyReLU", LeakyReLU);

}  // namespace obo
