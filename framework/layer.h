// The layer contract. A layer is created from its LayerParameter by the registry (its
// constructor checks the parameters and the number of inputs and outputs), then driven by the
// graph in this order:
//
//   setup(shapes)          once, when its input shapes are first known: declare parameters.
//   output_shapes(shapes)  whenever input shapes change, before anything is allocated: the
//                          graph infers every shape of the net first, so that a net too large
//                          for the machine is refused before any memory is taken.
//   reshape(in, out)       then, per input shape: set each output's layout, build primitives.
//   forward / backward     per step: bind data and execute; nothing is allocated or created.
//
// Values and gradients of one blob share a layout, so a gradient never needs reordering to be
// summed. Parameters are plain (OIHW, OI, O) views into the graph's flat buffers.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "framework/error.h"
#include "framework/onnx.h"
#include "framework/post_op.h"
#include "framework/quantized.h"
#include "framework/tensor.h"
#include "onebyone.pb.h"

namespace obo {

using onebyone::LayerParameter;
using Shapes = std::vector<Shape>;

// What a layer sees of one input or output blob.
struct Port {
  Tensor* value = nullptr;
  Tensor* grad = nullptr;  // null where no gradient is wanted
};
using Ports = std::vector<Port>;

// What a forward pass needs to know beyond its inputs.
struct Context {
  bool train = false;  // false: dropout is the identity, batch statistics are not taken
  uint64_t seed = 0;   // random masks are a function of (seed, step, layer, element)
  uint64_t step = 0;
  // The batch's first example in the global batch, where processes share one (framework/
  // distributed.h): masks are keyed by an element's place in the global batch, so that N
  // processes draw what one process would.
  int64_t first_example = 0;

  static Context training(uint64_t seed, uint64_t step, int64_t first_example = 0) {
    return {true, seed, step, first_example};
  }
  static Context evaluation() { return {false, 0, 0, 0}; }
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

// State that is saved but not trained (running statistics, say): declared by a layer in setup()
// with add_buffer(), allocated plain and filled with `initial` by the graph, stored and restored
// with the parameters by checkpoints. No optimizer, weight decay or gradient check ever touches
// a buffer: the layer updates its own, in forward(), and only in training (ctx.train).
struct Buffer {
  std::string name;  // "<layer>.running_mean"
  Shape shape;
  float initial = 0;
  Tensor value;
};

// y[c] = scale[c] * x[c] + shift[c] for each channel c: what a layer like BatchNorm computes in
// evaluation, and what inference folds into the layer before it.
struct ChannelAffine {
  std::vector<float> scale, shift;
};

// A layer's part in an int8 inference graph (framework/quantize.h): how to read each input
// (its tensor's own quantization where it is stored int8; else how the layer quantizes it, if it
// does), and how to store each output (nullopt: float).
struct Int8Plan {
  std::vector<Quantized> in;
  std::vector<std::optional<Quantized>> out;
};

// What a layer is for. The graph and the trainer ask, and never test a type name.
enum class Role {
  kCompute,  // everything between the data and the objective
  kInput,    // its outputs are the caller's to fill (images, labels); their shapes too
  kLoss,     // output 0 is an objective the graph minimises (its gradient is seeded with 1)
  kMetric,   // output 0 is a figure to report (accuracy); no gradient flows through it
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
  std::vector<Buffer>& buffers() { return buffers_; }
  const std::vector<Buffer>& buffers() const { return buffers_; }

  virtual Role role() const { return Role::kCompute; }

  // Requires: the shapes of the inputs, one per input in the description's order; called once.
  // Ensures: every parameter is declared with add_param(), every buffer with add_buffer().
  // Nothing is allocated: the graph owns their memory and fills it once every shape of the net
  // is known.
  virtual void setup(const Shapes& inputs) { (void)inputs; }

  // Requires: setup() has run; `inputs` as for setup() (the batch size, and for fully
  // convolutional layers the image size, may differ from setup's).
  // Ensures: one shape per output, or an error (error()) naming what the inputs should be. Pure:
  // no state changes, no allocation, so the graph can infer a whole net's shapes first. For an
  // Input layer: the shapes its description gives (the graph lets callers change them).
  virtual Shapes output_shapes(const Shapes& inputs) const = 0;

  // Requires: every input tensor holds its shape and the layout its producer chose; output
  // tensors are empty or hold the previous shapes.
  // Ensures: every output tensor is reshaped to output_shapes(), in the layout the layer's
  // primitives write; every primitive and buffer the passes need is created. Nothing is
  // allocated or created after this until the next reshape.
  virtual void reshape(const Ports& in, const Ports& out) = 0;

  // Requires: in[i].value holds the inputs. Ensures: out[i].value holds the outputs.
  virtual void forward(const Ports& in, const Ports& out, const Context& ctx) = 0;

  // Requires: forward() ran on the same inputs; out[i].grad holds d objective / d output (an
  // output's gradient is consumed: the layer may overwrite it, as a fused ReLU masks it in place).
  // Ensures: in[i].grad, where non-null, and every parameter's grad are ASSIGNED, never
  // accumulated: oneDNN's backward primitives overwrite, and the graph itself sums the gradients
  // of a blob that feeds several layers.
  virtual void backward(const Ports& in, const Ports& out) = 0;

  // Throws Error("layer 'conv2' (Conv3x3): <message>").
  template <typename... Args>
  [[noreturn]] void error(fmt::format_string<Args...> format, Args&&... args) const {
    fail("layer '{}' ({}): {}", name(), type(), fmt::format(format, std::forward<Args>(args)...));
  }

  // Whether gradients flow back to input i (not to labels, not through a metric).
  virtual bool propagates(size_t input) const {
    (void)input;
    return role() != Role::kMetric;
  }
  // Memory planning (training graphs). Which values backward() reads besides the gradients: of
  // input i, of output i. The graph keeps a value until the backward pass only where some layer
  // reads it there; every other value lives from its producer's forward to its last reader's, in
  // memory it shares with values and gradients whose lifetimes do not overlap. The defaults are
  // the safe answer; a layer that says false must never read that value in backward().
  virtual bool backward_reads_input(size_t i) const {
    (void)i;
    return true;
  }
  virtual bool backward_reads_output(size_t i) const {
    (void)i;
    return true;
  }
  // Whether running forward() again in the backward pass, on the same inputs, costs less than
  // keeping the outputs meanwhile (a first convolution over one or three image channels). It
  // must then give the same outputs every time and change no state. The graph recomputes such a
  // layer's outputs, when their inputs are kept anyway, just before the first backward pass that
  // reads them, and lets their memory serve other tensors in between.
  virtual bool cheap_to_recompute() const { return false; }
  // Post-op fusion. An element-wise layer says which function it is (as_post_op); a layer
  // whose primitives can apply one to their output says whether it takes it (accepts_post_op).
  // Where an element-wise layer is the only reader of such a layer's output, the graph calls
  // fuse() on the producer before setup and drops the element-wise layer; its output name then
  // names the producer's output, which holds the function's values.
  virtual std::optional<PostOp> as_post_op() const { return std::nullopt; }
  virtual bool accepts_post_op(const PostOp& op) const {
    (void)op;
    return false;
  }
  void fuse(const PostOp& op) { post_op_ = op; }
  const std::optional<PostOp>& post_op() const { return post_op_; }
  // Concatenation fusion, the other way round. A layer that joins its inputs along channels says
  // so (concatenates); a layer that can read such a join's inputs in its place says so too
  // (reads_concatenation). Where every reader of a concatenation's output accepts, the graph
  // hands each of them a concatenation of its own (absorb; one reader only in an int8 graph) and
  // drops the concatenation's output: each reader's inputs are then the concatenation's, and it
  // computes from them what it computed from their join, which is never stored. The reader drives
  // the layer it absorbed (shapes, and its passes where it has to join the inputs after all); the
  // layer keeps its name and config.
  virtual bool concatenates() const { return false; }
  virtual bool reads_concatenation() const { return false; }
  void absorb(std::unique_ptr<Layer> concatenation) { concatenation_ = std::move(concatenation); }
  Layer* concatenation() const { return concatenation_.get(); }
  // The shape of what the layer computes from: its one input's, or the join of an absorbed
  // concatenation's inputs (which checks that they fit together).
  Shape input_shape(const Shapes& in) const;
  // ONNX export of an absorbed concatenation, as itself: `in` then names its join. False where it
  // has no exact ONNX form; true, `in` untouched, where there is none.
  bool concatenation_to_onnx(OnnxGraph& onnx, std::vector<OnnxValue>& in) const;
  // What it runs of other layers' work: an absorbed concatenation, a fused post-op ("Concat",
  // "ReLU", "Concat, ReLU"; empty for none).
  std::string fused() const;
  // The type, with what it fused before and after it: "Conv3x3+ReLU", "Concat+MaxPool".
  std::string description() const;
  // Which of its algorithms a layer runs at its current shapes, where it has a choice that
  // depends on the machine (a convolution: "winograd", "winograd on matmul", "direct"); empty
  // where it has none; "measuring" while it times its first passes to choose (framework/fastest.h).
  // A test that needs one asserts it, or says that it was skipped.
  // By default "int8" where it computes in int8 (computes_int8, int8 inference), else empty.
  virtual std::string kernel() const { return computes_int8() ? "int8" : ""; }
  // Inference folding (fold_batch_norm in framework/inference.h). A layer that in evaluation
  // is an affine map per channel gives it, from its parameters and buffers as they are now. A
  // layer whose output channel o is a dot product with its weights' row o plus a bias says how
  // it would be described with a bias (its parameters then: weight, bias); folding scales that
  // row and sets that bias.
  virtual std::optional<ChannelAffine> channel_affine() const { return std::nullopt; }
  virtual std::optional<LayerParameter> with_bias() const { return std::nullopt; }

  // Inference graphs (GraphOptions::inference()) call this before setup(): reshape() then builds
  // forward primitives for inference only (a max-pool keeps no workspace), and backward() is
  // never called.
  void set_inference_only() { inference_only_ = true; }
  bool inference_only() const { return inference_only_; }
  // An inference layer whose parameters will not change (Graph::freeze): it may convert them
  // once, after reshape(), into the layout its primitives run on, and read that copy from then
  // on instead of converting them every pass, until freeze() or reshape() is called again.
  virtual void freeze() {}
  // Whether in evaluation it passes its one input through unchanged (Dropout): an inference
  // graph drops it, and its output name names its input.
  virtual bool identity_in_evaluation() const { return false; }

  // ONNX export (framework/onnx.h): adds to `onnx` the nodes that compute `out` from `in` as
  // forward() does in evaluation, exactly, without a fused post-op (the exporter adds that).
  // False where the layer has no exact ONNX form: the export then fails, naming it.
  virtual bool to_onnx(OnnxGraph& onnx, const std::vector<OnnxValue>& in, const std::vector<OnnxValue>& out) const {
    (void)onnx;
    (void)in;
    (void)out;
    return false;
  }

  // int8 inference (framework/quantize.h). A layer that runs int8 says so; the graph then plans
  // it (plan_int8) before reshape(): an output is stored int8 where its producer and every reader
  // run int8. Such a layer reads each input in whatever form its tensor holds (float, or int8 at
  // any scale; Tensor::layout says which) and writes each output as its plan says. A layer whose
  // every output value is one of its input values, or a mean of them (pooling, concatenation,
  // flattening), keeps their scale: the plan gives its int8 inputs and outputs one scale, so that
  // it copies bytes.
  virtual bool runs_int8() const { return false; }
  virtual bool keeps_scale() const { return false; }
  void plan_int8(Int8Plan plan) { int8_ = std::move(plan); }
  const std::optional<Int8Plan>& int8() const { return int8_; }
  // Whether, as planned, it computes in int8: by default where it writes an int8 output (a
  // pooling whose output is float pools in float); a layer that computes in int8 whatever it
  // writes (a convolution's s32 sums) says so.
  virtual bool computes_int8() const {
    return int8_ && std::any_of(int8_->out.begin(), int8_->out.end(), [](const auto& q) { return q.has_value(); });
  }

  // Whether it combines the channels of each pixel and nothing across pixels: a 1x1
  // convolution, the idea this project is built around (`graph` highlights these).
  virtual bool pointwise() const { return false; }
  // Multiply-adds of one forward pass at the current shapes (for summaries and GFLOP/s).
  virtual int64_t multiply_adds(const Ports& in, const Ports& out) const {
    (void)in;
    (void)out;
    return 0;
  }

 protected:
  // Declares a parameter; its lr/decay multipliers come from the layer's `param` entries in
  // declaration order. Returns its index in params().
  size_t add_param(const std::string& suffix, Shape shape, const onebyone::FillerParameter& filler);
  // Declares a buffer (see Buffer). Returns its index in buffers().
  size_t add_buffer(const std::string& suffix, Shape shape, float initial);
  // Checks the number of inputs and outputs in the layer's description.
  void expect_arity(int min_inputs, int max_inputs, int outputs) const;

 private:
  LayerParameter config_;
  std::vector<Param> params_;
  std::vector<Buffer> buffers_;
  std::optional<PostOp> post_op_;
  std::unique_ptr<Layer> concatenation_;
  std::optional<Int8Plan> int8_;
  bool inference_only_ = false;
};

}  // namespace obo
