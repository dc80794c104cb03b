// What an activation layer computes, said so that a producer's oneDNN primitive can apply it
// (framework/dnnl_seam.h) without the seam knowing layers.
#pragma once

#include <string>

namespace obo {

// An element-wise function y = f(x): what an activation layer computes (layers/eltwise.h), and
// what it can run as inside the layer producing its input (a oneDNN post-op), so that its own
// output is never stored: the producer writes f(x) and, in its backward pass, masks the
// incoming gradient by f'(x) in place, computed from its output where f allows that.
struct PostOp {
  enum class Function {
    kRelu,       // x > 0 ? x : alpha * x  (ReLU, LeakyReLU)
    kElu,        // x > 0 ? x : alpha * (e^x - 1)
    kTanh,
    kSigmoid,    // 1 / (1 + e^-x)
    kSwish,      // x * sigmoid(alpha * x)
    kGelu,       // x * Phi(x), with the error function
    kSoftplus,   // log(1 + e^x)
    kMish,       // x * tanh(softplus(x))
    kHardswish,  // x * clamp(x + 3, 0, 6) / 6
    kAbs,
    kSquare,
    kSqrt,
    kExp,
    kLog,
    kLinear,     // alpha * x + beta
    kClip,       // clamp(x, alpha, beta)
  };
  Function function = Function::kRelu;
  float alpha = 0, beta = 0;
  std::string name;  // the element-wise layer's type, for summaries: "ReLU", "LeakyReLU"
};

}  // namespace obo
