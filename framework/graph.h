// The layer graph: named blobs joined by layers into a DAG, built from a NetParameter.
//
//   onebyone::NetParameter net = read_net("models/nin.prototxt");
//   obo::Graph g(net, GraphOptions::seeded(1));
//   g.value("data").assign_plain(batch);        // (N,1,28,28)
//   g.forward(Context::training(/*seed=*/1, /*step=*/0));
//   g.backward();                               // parameter gradients in g.param_grads()
//
// Building (Graph::build) reads top to bottom, each step in a room of its own:
//   connect   a layer per description, joined by their blobs      framework/graph_ir.h
//   passes    drop Dropout (inference), fuse ReLUs into producers,  framework/passes.h
//             concatenations into their readers
//   order     topological, the file's order where it is free
//   shapes    every blob's, and a net that would not fit refused   framework/graph_memory.h
//   gradients which blobs get one, which buffer each consumer writes framework/autograd.h
//   int8      which blobs are stored int8, at which scale (int8 inference) framework/quantize.h
//   allocate  each value's lifetime, every layer reshaped (tensors and oneDNN primitives), then
//             each value's place in one arena                       framework/graph_memory.h
// A change of input shapes (reshape) runs shapes and allocate again. A value the caller does not
// read lives until its last reader has run forward, or until the last backward pass that reads
// it has run; values and gradients that are not alive at the same time share memory. Backward
// runs in reverse order: each consumer of a blob writes its own gradient buffer and the graph
// sums them before the blob's producer runs. All parameters live in one contiguous buffer and
// all gradients in another, in the same order, so an optimizer step is one pass.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "framework/graph_ir.h"
#include "framework/graph_memory.h"
#include "framework/quantized.h"

namespace obo {

struct GraphOptions {
  uint64_t seed = 0;         // parameter initialisation
  bool input_grads = false;  // compute gradients of the Input blobs (gradient checks)
  // Run an element-wise layer that alone reads a layer's output inside that layer (see
  // Layer::as_post_op; its output name then names the producer's output blob), and a
  // concatenation inside each layer that reads it, where every one can (see
  // Layer::reads_concatenation; its output is then no blob at all).
  bool fuse = true;
  // false: an inference graph. Evaluation passes only, on inference primitives, with no
  // gradients; layers that are the identity in evaluation (Dropout) are dropped.
  bool training = true;
  // An inference graph runs int8 where its layers can (framework/quantize.h), from these ranges
  // of its blobs: those `onebyone quantize` measured. Empty: float throughout.
  std::map<std::string, Range> int8 = {};

  static GraphOptions seeded(uint64_t seed) { return {seed, false, true, true}; }
  // Gradients of the inputs too, for gradient checks.
  static GraphOptions for_gradient_check(uint64_t seed) { return {seed, true, true, true}; }
  static GraphOptions inference() { return {0, false, true, false}; }
  GraphOptions unfused() const { return {seed, input_grads, false, training, int8}; }
};

class Graph {
 public:
  explicit Graph(const onebyone::NetParameter& net, const GraphOptions& options = {});
  ~Graph();
  Graph(Graph&&) noexcept;  // layers hold no pointers into the Graph object itself
  Graph& operator=(Graph&&) noexcept;

  // New shapes for some Input blobs; every layer's shapes and primitives are rebuilt.
  void reshape(const std::map<std::string, Shape>& input_shapes);
  // Sets the batch dimension of every Input blob.
  void set_batch(int64_t n);
  // An inference graph's promise that its parameters will not change: layers convert them into
  // their primitives' layouts once (Layer::freeze), not on every pass (at batch 8, nin-fc's FC
  // weights took a quarter of the pass). Write a parameter afterwards only to call freeze()
  // again: until then, layers that converted it read their copy, the others the parameter.
  // reshape() and set_batch() keep a frozen graph frozen.
  void freeze();
  int64_t batch() const;

  void forward(const Context& ctx);
  // Gradients of the loss blobs (seeded with 1 on every call), or of whatever the caller wrote
  // into the gradients of other blobs that no layer reads. Those starting gradients are
  // consumed (a layer may overwrite it): write them again before the next backward().
  void backward();
  // Whether backward() seeds this blob's gradient with 1 itself (a loss no layer reads).
  bool seeds_gradient(const std::string& name) const;
  // One layer of the passes above (forward in order 0..n-1, backward in order n-1..0), for
  // per-layer timing.
  void forward_layer(size_t i, const Context& ctx);
  void backward_layer(size_t i);

  bool has_blob(const std::string& name) const;
  // The blob a name refers to: itself, or for a fused post-op's output, its producer's output.
  const std::string& resolve(const std::string& name) const;
  std::vector<std::string> blob_names() const;  // sorted, aliases included
  // A training graph holds the values of Input blobs, of blobs no layer reads and of blobs a loss
  // or metric reads. Every other value shares memory with values and gradients that are not alive
  // at the same time: after forward() it holds its value only if some backward pass reads it, and
  // after backward() not at all (see choose_value_lifetimes in framework/graph_memory.h). Inference graphs hold every
  // value.
  Tensor& value(const std::string& name);
  // Empty when no gradient flows to this blob. Gradients of blobs between layers share memory
  // with others that are not alive at the same time, so after backward() only the gradients of
  // Input blobs and of blobs no layer reads (and of parameters) still hold their values.
  Tensor& grad(const std::string& name);
  const std::vector<std::string>& input_blobs() const { return net_.input_blobs; }
  // The layers and blobs in execution order, as the passes left them, with the lifetimes and
  // gradients chosen for them, for tests to read.
  const ir::Net& net() const { return net_; }

  size_t num_layers() const { return net_.nodes.size(); }
  Layer& layer(size_t i) { return *net_.nodes.at(i).layer; }  // in execution order
  const Layer& layer(size_t i) const { return *net_.nodes.at(i).layer; }
  const Ports& inputs_of(size_t i) const { return net_.nodes.at(i).in; }
  const Ports& outputs_of(size_t i) const { return net_.nodes.at(i).out; }
  // The blobs layer i reads and writes, as the passes left them (an absorbed concatenation's
  // inputs, a fused post-op's producer's output).
  std::vector<std::string> input_names_of(size_t i) const;
  std::vector<std::string> output_names_of(size_t i) const;

  std::vector<Param*> params();
  std::vector<Buffer*> buffers();  // saved, never trained: see Buffer
  Tensor& param_values() { return param_values_; }  // all parameters, flat
  Tensor& param_grads() { return param_grads_; }    // all gradients, same order
  // Of a training graph, in floats: the arena its planned values and gradients share, and the
  // most of them alive at one step, which no plan can go below (see framework/memory_plan.h).
  size_t arena_floats() const { return arena_floats_; }
  size_t largest_live_floats() const { return largest_live_floats_; }
  // Multiply-adds of one forward pass at the current shapes: of layer i, and of the whole net.
  int64_t multiply_adds(size_t i) const;
  int64_t multiply_adds() const;

 private:
  using Blob = ir::Blob;
  using Node = ir::Node;

  void build(const onebyone::NetParameter& net);
  void order();
  void infer_shapes();
  void allocate();
  void allocate_state(uint64_t seed);
  Blob& blob(const std::string& name) const;
  template <typename F>
  void run(Node& node, const char* what, F&& f);

  GraphOptions options_;
  bool frozen_ = false;
  ir::Net net_;  // its nodes in execution order once built
  std::map<std::string, Shape> input_shapes_;   // the caller's shapes for Input blobs
  Tensor param_values_, param_grads_;
  Context context_;  // of the last forward pass, for recomputing layers in backward
  Tensor arena_;  // values and gradients that are not alive at the same time share it
  size_t arena_floats_ = 0, largest_live_floats_ = 0;
};

}  // namespace obo
