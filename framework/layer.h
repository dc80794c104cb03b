// The layer contract. A layer is created from its LayerParameter by the registry, then driven by
// the graph through four calls:
//
//   setup(in, out)     once: check the inputs, declare parameters with add_param().
//   reshape(in, out)   per input shape: check shapes, set each output's shape and layout, build
//                      oneDNN primitives. Nothing is allocated or created after this.
//   forward(in, out)   reads in[i].value, writes out[i].value.
//   backward(in, out)  reads out[i].grad and ASSIGNS in[i].grad (where non-null) and every
//                      parameter's grad. Nothing is accumulated: oneDNN's backward primitives
//                      overwrite, and the graph sums the gradients of a blob that feeds several
//                      layers. An output's gradient is consumed: the layer may overwrite it
//                      (a fused ReLU masks it in place).
//
// Values and gradients of one blob share a layout, so a gradient never needs reordering to be
// summed. Parameters are plain (OIHW, OI, O) views into the graph's flat buffers.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "framework/error.h"
#include "framework/tensor.h"
#include "onebyone.pb.h"

namespace obo {

using onebyone::LayerParameter;

// What a layer sees of one input or output blob.
struct Port {
  Tensor* value = nullptr;
  Tensor* grad = nullptr;  // null where no gradient is wanted
};
using Ports = std::vector<Port>;

// What a forward pass needs to know beyond its inputs.
struct Context {
  bool train = false;  // false: dropout is the identity
  uint64_t seed = 0;   // random masks are a function of (seed, step, layer, element)
  uint64_t step = 0;
};

struct Param {
  std::string name;  // "<layer>.weight", "<layer>.bias"
  Shape shape;
  onebyone::FillerParameter filler;
  float lr_mult = 1;
  float decay_mult = 1;
  Tensor value;  // view into the graph's parameter buffer
  Tensor grad;   // view into the graph's gradient buffer
};

class Layer {
 public:
  explicit Layer(const LayerParameter& config);
  virtual ~Layer() = default;
  Layer(const Layer&) = delete;
  Layer& operator=(const Layer&) = delete;

  const std::string& name() const { return config_.name(); }
  const std::string& type() const { return config_.type(); }
  const LayerParameter& config() const { return config_; }
  std::vector<Param>& params() { return params_; }
  const std::vector<Param>& params() const { return params_; }

  virtual void setup(const Ports& in, const Ports& out) {
    (void)in;
    (void)out;
  }
  virtual void reshape(const Ports& in, const Ports& out) = 0;
  virtual void forward(const Ports& in, const Ports& out, const Context& ctx) = 0;
  virtual void backward(const Ports& in, const Ports& out) = 0;

  // Throws Error("layer 'conv2' (Conv3x3): <message>").
  template <typename... Args>
  [[noreturn]] void error(fmt::format_string<Args...> format, Args&&... args) const {
    fail("layer '{}' ({}): {}", name(), type(),
         fmt::format(format, std::forward<Args>(args)...));
  }

  // Whether gradients flow back to input i (not to labels, not through Accuracy).
  virtual bool propagates(size_t input) const {
    (void)input;
    return true;
  }
  // Whether output 0 is an objective the graph minimises (its gradient is seeded with 1).
  virtual bool is_loss() const { return false; }
  // Whether this layer can apply a ReLU to its only output itself (a oneDNN post-op). The
  // graph then calls fuse_relu() before setup and drops the ReLU layer.
  virtual bool can_fuse_relu() const { return false; }
  void fuse_relu() { fused_relu_ = true; }
  bool fused_relu() const { return fused_relu_; }
  // Multiply-adds of one forward pass at the current shapes (for summaries and GFLOP/s).
  virtual int64_t multiply_adds(const Ports& in, const Ports& out) const {
    (void)in;
    (void)out;
    return 0;
  }

 protected:
  // Declares a parameter; its lr/decay multipliers come from the layer's `param` entries in
  // declaration order. Returns its index in params().
  size_t add_param(const std::string& suffix, Shape shape,
                   const onebyone::FillerParameter& filler);
  // Checks the number of inputs and outputs in the layer's description.
  void expect_arity(int min_inputs, int max_inputs, int outputs) const;

 private:
  LayerParameter config_;
  std::vector<Param> params_;
  bool fused_relu_ = false;
};

}  // namespace obo
