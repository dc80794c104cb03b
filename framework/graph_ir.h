// What Graph is made of: layers (Node) joined by named blobs (Blob), in one Net. connect() builds
// a Net from a NetParameter, in the file's order; passes rewrite it (framework/passes.h); Graph
// then orders it, infers its shapes, routes its gradients and places its values.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "framework/layer.h"

namespace obo::ir {

struct Blob {
  std::string name;
  std::string producer;
  Shape shape;  // inferred before anything is allocated
  Tensor value;
  Tensor grad;  // d objective / d value; the first consumer that sends a gradient writes it
  std::vector<std::unique_ptr<Tensor>> partial_grads;  // one per further consumer, summed into grad
  bool consumed = false;       // some layer reads it
  bool differentiable = false; // its value depends on parameters (or on inputs, for gradient checks)
  bool receives_grad = false;  // backward computes its gradient
  bool loss = false;           // its gradient is seeded with 1
  bool owned = true;           // its value has memory of its own (else: planned, see place_values in framework/graph_memory.h)
  // Of a planned value, the steps that read it (see framework/memory_plan.h): the last forward step, the
  // first backward step, the last step of all. A recomputed value is not alive in between.
  size_t last_forward = 0, first_backward = SIZE_MAX, last_use = 0;
  bool recomputed = false;
};

struct Node {
  std::unique_ptr<Layer> layer;  // null: removed by a pass, or placed by Graph::order
  std::vector<Blob*> inputs, outputs;
  Ports in, out;
  bool set_up = false;
  bool runs_backward = false;
  std::vector<size_t> recompute;  // layers whose forward runs again before this one's backward
};

struct Net {
  std::vector<Node> nodes;
  std::map<std::string, std::unique_ptr<Blob>> blobs;
  std::map<std::string, std::string> aliases;  // a removed layer's output -> the blob it names now
  std::vector<std::string> input_blobs;
};

// A layer per description, from the registry, joined by their blobs: names and output blobs are
// unique, and every input names a blob some layer produces. Layers of an inference net are told
// so (Layer::set_inference_only).
Net connect(const onebyone::NetParameter& net, bool inference);

// The layer of that description, from the registry, as connect() makes each (told where it is
// for an inference net).
std::unique_ptr<Layer> make_layer(const LayerParameter& config, bool inference);

}  // namespace obo::ir
