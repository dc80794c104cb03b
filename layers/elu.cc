// ELU (Clevert et al.): x > 0 ? x : alpha * (exp(x) - 1) (elu { alpha: 1 }).
//   (any shape) -> (same shape, same layout)
#include <cmath>

#include "framework/registry.h"
#include "layers/eltwise.h"

namespace obo {

struct ELU : EltwiseLayer {
  explicit ELU(const LayerParameter& p) : EltwiseLayer(p, PostOp::Function::kElu, p.elu().alpha()) {
    if (!(p.elu().alpha() >= 0 && std::isfinite(p.elu().alpha())))
      error("elu.alpha must be finite and >= 0, got {}", p.elu().alpha());
  }
};

REGISTER_LAYER("ELU", ELU);

}  // namespace obo
