#include "framework/graph.h"

#include <algorithm>

#include "framework/autograd.h"
#include "framework/backend.h"
#include "framework/filler.h"
#include "framework/passes.h"
#include "framework/quantize.h"
#include "framework/random.h"

namespace obo {

Graph::Graph(const onebyone::NetParameter& net, const GraphOptions& options) : options_(options) {
  build(net);
  allocate_state(options.seed);
}

Graph::~Graph() = default;
Graph::Graph(Graph&&) noexcept = default;
Graph& Graph::operator=(Graph&&) noexcept = default;

void Graph::build(const onebyone::NetParameter& net) {
  net_ = ir::connect(net, !options_.training);
  run_passes(net_, options_);  // framework/passes.h
  order();
  infer_shapes();
  if (options_.training) route_gradients(net_, options_.input_grads);  // framework/autograd.h
  if (!options_.int8.empty()) {
    if (options_.training) fail("only an inference graph runs int8: training changes its weights every step");
    plan_int8(net_, options_.int8);  // framework/quantize.h
  }
  allocate();
}

// Kahn's algorithm, taking the earliest ready layer in file order each time.
void Graph::order() {
  std::vector<Node> unordered = std::move(net_.nodes);
  net_.nodes.clear();
  auto produced = [&](const Blob* b) {
    for (size_t j = 0; j < unordered.size(); ++j)
      if (unordered[j].layer && unordered[j].layer->name() == b->producer) return false;
    return true;
  };
  for (size_t placed = 0; placed < unordered.size(); ++placed) {
    auto ready = std::find_if(unordered.begin(), unordered.end(), [&](const Node& n) {
      return n.layer && std::all_of(n.inputs.begin(), n.inputs.end(), produced);
    });
    if (ready == unordered.end()) {
      std::vector<std::string> stuck;
      for (const Node& n : unordered)
        if (n.layer) stuck.push_back(n.layer->name());
      fail("the layers {} form a cycle: each waits for an input that another produces", fmt::join(stuck, ", "));
    }
    net_.nodes.push_back(std::move(*ready));  // leaves ready->layer null: placed
  }
  for (Node& node : net_.nodes) {
    for (Blob* b : node.inputs) node.in.push_back({&b->value, nullptr});
    for (Blob* b : node.outputs) node.out.push_back({&b->value, nullptr});
  }
}

// Every blob's shape, from the inputs' forward, without allocating anything; then the
// memory check. Layers declare their parameters (setup) when their input shapes are first known.
void Graph::infer_shapes() {
  for (Node& node : net_.nodes) {
    Shapes in;
    for (const Blob* b : node.inputs) in.push_back(b->shape);
    run(node, "shape inference", [&] {
      if (!node.set_up) node.layer->setup(in);
      node.set_up = true;
      const Shapes out = node.layer->output_shapes(in);
      if (out.size() != node.outputs.size())
        node.layer->error("gave {} output shapes for {} outputs", out.size(), node.outputs.size());
      for (size_t i = 0; i < out.size(); ++i) {
        const auto caller = input_shapes_.find(node.outputs[i]->name);
        node.outputs[i]->shape = caller != input_shapes_.end() ? caller->second : out[i];
        if (node.outputs[i]->shape.empty()) node.layer->error("output '{}' has no dimensions", node.outputs[i]->name);
        try {
          count(node.outputs[i]->shape);
        } catch (const Error& e) {
          node.layer->error("output '{}': {}", node.outputs[i]->name, e.what());
        }
      }
    });
  }
  check_memory(net_, options_.training);
}

// How long each value lives; every layer reshaped at the inferred shapes (tensors and
// primitives); then memory for values and gradients, shared where their lifetimes allow
// (framework/graph_memory.h).
void Graph::allocate() {
  choose_value_lifetimes(net_, options_.training);
  for (auto& [name, b] : net_.blobs)
    if (b->owned == b->value.placed_by_caller()) b->value = b->owned ? Tensor() : Tensor::unplaced();
  for (Node& node : net_.nodes) {
    run(node, "reshape", [&] {
      if (node.layer->role() == Role::kInput)
        for (size_t i = 0; i < node.outputs.size(); ++i) node.out[i].value->reshape(node.outputs[i]->shape);
      node.layer->reshape(node.in, node.out);
      for (size_t i = 0; i < node.outputs.size(); ++i)
        if (node.out[i].value->shape() != node.outputs[i]->shape)
          node.layer->error("reshaped output '{}' to {}, but output_shapes() gave {}", node.outputs[i]->name,
                            to_string(node.out[i].value->shape()), to_string(node.outputs[i]->shape));
    });
  }
  const Placement placement = place_values(net_, arena_);
  arena_floats_ = placement.arena_floats;
  largest_live_floats_ = placement.largest_live_floats;
  seed_losses(net_);
}

// Parameters in one flat buffer (and their gradients in another), initialised from the seed;
// buffers each in a tensor of their own, filled with their initial value.
void Graph::allocate_state(uint64_t seed) {
  for (Buffer* b : buffers()) {
    b->value.reshape(b->shape);
    std::fill(b->value.data(), b->value.data() + b->value.count(), b->initial);
  }
  int64_t total = 0;
  for (Node& node : net_.nodes)
    for (const Param& p : node.layer->params()) total += count(p.shape);
  if (total == 0) return;
  param_values_.reshape({total});
  param_grads_.reshape({total});
  int64_t offset = 0;
  for (Node& node : net_.nodes) {
    for (Param& p : node.layer->params()) {
      p.value = Tensor::view(p.shape, param_values_.data() + offset);
      p.grad = Tensor::view(p.shape, param_grads_.data() + offset);
      fill(p.filler, p.value, seed, stream_of(p.name));
      offset += count(p.shape);
    }
  }
}

template <typename F>
void Graph::run(Node& node, const char* what, F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    if (const std::optional<std::string> message = backend::failure(e))
      fail("layer '{}' ({}): {} failed in {}: {}", node.layer->name(), node.layer->type(), backend::kName, what, *message);
    throw;
  }
}

bool Graph::seeds_gradient(const std::string& name) const { return obo::seeds_gradient(blob(name)); }

void Graph::reshape(const std::map<std::string, Shape>& shapes) {
  for (const auto& [name, shape] : shapes) {
    if (std::find(net_.input_blobs.begin(), net_.input_blobs.end(), name) == net_.input_blobs.end())
      fail("'{}' is not an Input blob (inputs: {})", name, fmt::join(net_.input_blobs, ", "));
    for (int64_t d : shape)
      if (d <= 0) fail("Input blob '{}': dimensions must be positive, got {}", name, to_string(shape));
  }
  const std::map<std::string, Shape> previous = input_shapes_;
  for (const auto& [name, shape] : shapes) input_shapes_[name] = shape;
  try {
    infer_shapes();
  } catch (...) {
    // Refused (too large, say): the graph stays as it was, with its tensors at the old shapes.
    input_shapes_ = previous;
    infer_shapes();
    throw;
  }
  allocate();
  if (frozen_) freeze();
}

void Graph::freeze() {
  if (options_.training) fail("only an inference graph can be frozen: training changes its parameters every step");
  frozen_ = true;
  for (Node& node : net_.nodes) node.layer->freeze();
}

void Graph::set_batch(int64_t n) {
  std::map<std::string, Shape> shapes;
  for (const std::string& name : net_.input_blobs) {
    Shape s = blob(name).shape;
    s.at(0) = n;
    shapes[name] = s;
  }
  reshape(shapes);
}

int64_t Graph::batch() const {
  if (net_.input_blobs.empty()) fail("the graph has no Input layer");
  return blob(net_.input_blobs.front()).value.dim(0);
}

void Graph::forward(const Context& ctx) {
  if (ctx.train && !options_.training) fail("an inference graph runs evaluation passes only");
  for (size_t i = 0; i < net_.nodes.size(); ++i) forward_layer(i, ctx);
}

void Graph::backward() {
  if (!options_.training) fail("an inference graph has no backward pass");
  seed_losses(net_);
  for (size_t i = net_.nodes.size(); i-- > 0;) backward_layer(i);
}

void Graph::forward_layer(size_t i, const Context& ctx) {
  context_ = ctx;
  Node& node = net_.nodes.at(i);
  run(node, "forward", [&] { node.layer->forward(node.in, node.out, ctx); });
  backend::wait();
}

void Graph::backward_layer(size_t i) {
  Node& node = net_.nodes.at(i);
  sum_partial_gradients(node);
  for (size_t p : node.recompute) forward_layer(p, context_);
  if (node.runs_backward) run(node, "backward", [&] { node.layer->backward(node.in, node.out); });
  backend::wait();
}

ir::Blob& Graph::blob(const std::string& name) const {
  const auto alias = net_.aliases.find(name);
  const auto it = net_.blobs.find(alias == net_.aliases.end() ? name : alias->second);
  if (it == net_.blobs.end()) fail("no blob named '{}'", name);
  return *it->second;
}

bool Graph::has_blob(const std::string& name) const { return net_.blobs.count(name) > 0 || net_.aliases.count(name) > 0; }
const std::string& Graph::resolve(const std::string& name) const { return blob(name).name; }

std::vector<std::string> Graph::blob_names() const {
  std::vector<std::string> names;
  for (const auto& [name, b] : net_.blobs) names.push_back(name);
  for (const auto& [alias, target] : net_.aliases) names.push_back(alias);
  std::sort(names.begin(), names.end());
  return names;
}

Tensor& Graph::value(const std::string& name) { return blob(name).value; }
Tensor& Graph::grad(const std::string& name) { return blob(name).grad; }

namespace {
std::vector<std::string> names_of(const std::vector<ir::Blob*>& blobs) {
  std::vector<std::string> names;
  for (const ir::Blob* b : blobs) names.push_back(b->name);
  return names;
}
}  // namespace

std::vector<std::string> Graph::input_names_of(size_t i) const { return names_of(net_.nodes.at(i).inputs); }
std::vector<std::string> Graph::output_names_of(size_t i) const { return names_of(net_.nodes.at(i).outputs); }

int64_t Graph::multiply_adds(size_t i) const {
  const Node& node = net_.nodes.at(i);
  return node.layer->multiply_adds(node.in, node.out);
}

int64_t Graph::multiply_adds() const {
  int64_t total = 0;
  for (size_t i = 0; i < net_.nodes.size(); ++i) total += multiply_adds(i);
  return total;
}

std::vector<Buffer*> Graph::buffers() {
  std::vector<Buffer*> all;
  for (Node& node : net_.nodes)
    for (Buffer& b : node.layer->buffers()) all.push_back(&b);
  return all;
}

std::vector<Param*> Graph::params() {
  std::vector<Param*> all;
  for (Node& node : net_.nodes)
    for (Param& p : node.layer->params()) all.push_back(&p);
  return all;
}

}  // namespace obo
