// ONNX export: a trained checkpoint as an ONNX model that ONNX Runtime, PyTorch's importers or a
// browser can run, computing what `onebyone test` computes.
//
//   write_file("nin.onnx", export_onnx(load_checkpoint("runs/nin/best.ckpt"), OnnxExportOptions{}));
//
// The model is the inference graph (framework/inference.h: BatchNorm folded into the convolution
// before it, dropout gone, activations fused) from the image input to the class scores, without
// the loss and the accuracy. Each layer writes its own nodes (Layer::to_onnx), so a layer from a
// plugin can export itself; a layer that cannot be written exactly is an error naming it, never
// an approximation. The schema is Debian's libonnx (ONNX 1.12); every model is checked with its
// checker (full check, with shape inference) before it is returned.
//
//   input  "images"  float (N, C, H, W), the Input layer's first output: pixels p (0 to 255)
//                    scaled as training saw them, (p / 255 - 0.1307) / 0.3081
//                    (framework/data/dataset.h)
//   output "scores"  float (N, K): the class scores the loss read (logits), or with softmax,
//                    "probabilities" (N, K)
// N is the batch given, or with batch 0 a symbolic dimension "N" that takes any batch.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "framework/tensor.h"
#include "onebyone.pb.h"

namespace obo {

struct PostOp;

constexpr int64_t kOnnxOpset = 13;
constexpr int64_t kOnnxIrVersion = 8;

struct OnnxExportOptions {
  int64_t batch = 1;     // 0: any batch (a symbolic dimension "N")
  bool softmax = false;  // output probabilities instead of scores
};

// The ONNX model (a serialized onnx.ModelProto) of the checkpoint's net.
std::string export_onnx(const onebyone::Checkpoint& checkpoint, const OnnxExportOptions& options);

// What an ONNX model takes and gives, in words: "input 'images' (N,1,28,28), output 'scores' (N,10)".
std::string onnx_signature(const std::string& model);

// An ONNX model (`bytes`, read from `origin`) as a checkpoint: its net, an Input layer for its
// one image input (at the model's batch, or 64 where it takes any), its layers, then
// SoftmaxCrossEntropy and Accuracy on its output (on the scores before it, where the output is a
// Softmax), with its weights; no training position or optimizer state. Shape arithmetic on
// constants (PyTorch's Shape, Gather, Unsqueeze, Concat before a Reshape) is folded away. An
// operator or attribute it cannot import exactly is an error naming the node, its op type and
// what is unsupported; a malformed file an error, before anything large is allocated.
onebyone::Checkpoint import_onnx(const std::string& bytes, const std::string& origin);

// A value of the ONNX graph as a layer sees it: its name there and its shape (N included).
struct OnnxValue {
  std::string name;
  Shape shape;
};

// What a layer writes its ONNX form into (Layer::to_onnx): nodes over named values, and
// constants (its weights). Names of values must be unique in the graph: temporary() gives one.
class OnnxGraph {
 public:
  using Attribute = std::pair<std::string, std::variant<int64_t, float, std::string, std::vector<int64_t>>>;

  OnnxGraph();
  ~OnnxGraph();
  OnnxGraph(const OnnxGraph&) = delete;
  OnnxGraph& operator=(const OnnxGraph&) = delete;

  void node(const std::string& op, const std::vector<std::string>& inputs, const std::vector<std::string>& outputs,
            const std::vector<Attribute>& attributes = {});
  // A float constant of this shape from `data` (count(shape) values, plain order); its name.
  std::string constant(const std::string& name, const Shape& shape, const float* data);
  // A 1-D int64 constant (a shape for Reshape, say); its name.
  std::string constant(const std::string& name, const std::vector<int64_t>& values);
  // A value name not used before, made from `base`.
  std::string temporary(const std::string& base);
  // The value a layer that several others absorbed (fuse_concatenations) was written as, by the
  // first of them: empty until one does, which sets it. By the layer's name, unique in a net.
  std::string& written(const std::string& layer);
  // Nodes computing y = f(x) for an element-wise function (an activation layer's, or one a
  // layer fused); false where ONNX has no exact form of it.
  bool function(const PostOp& f, const std::string& x, const std::string& y);

  struct Impl;
  Impl& impl() { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace obo
