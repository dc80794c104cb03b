// Swish (Ramachandran et al., 2017): x * sigmoid(beta * x), with beta from its own parameter block.
// An element-wise layer written the fast way: on the installed layers/eltwise.h, the base of the
// activations in the tree, so it runs oneDNN's eltwise primitive in whatever layout its input
// has, its values live in the graph's memory plan, and it costs what an in-tree activation does.
//
//   layer { name: "s1" type: "Swish" input: "c1" output: "s1" [swish.swish] { beta: 1.5 } }
//   (any shape) -> (same shape, same layout)
#include <cmath>

#include "framework/registry.h"
#include "layers/eltwise.h"
#include "swish.pb.h"

namespace {

float beta_of(const obo::LayerParameter& p) {
  const float beta = p.GetExtension(swish::swish).beta();
  if (!std::isfinite(beta)) obo::fail("layer '{}' (Swish): swish.beta must be finite, got {}", p.name(), beta);
  return beta;
}

struct Swish : obo::EltwiseLayer {
  explicit Swish(const obo::LayerParameter& p) : EltwiseLayer(p, obo::PostOp::Function::kSwish, beta_of(p)) {}
};

}  // namespace

REGISTER_LAYER("Swish", Swish);
