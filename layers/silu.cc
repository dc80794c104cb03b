// SiLU: x * sigmoid(x), Swish with beta 1 (PyTorch's nn.SiLU). Its derivative needs x, not only
// y, so it runs as a layer of its own after a convolution, not as a post-op.
//   (any shape) -> (same shape, same layout)
#include "framework/registry.h"
#include "layers/eltwise.h"

namespace obo {

struct SiLU : EltwiseLayer {
  explicit SiLU(const LayerParameter& p) : EltwiseLayer(p, PostOp::Function::kSwish, 1.f) {}
};

REGISTER_LAYER("SiLU", SiLU);

}  // namespace obo
