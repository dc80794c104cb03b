#include "framework/graph.h"

#include <algorithm>
#include <atomic>
#include <fstream>
#include <set>

#include "framework/dnnl_seam.h"
#include "framework/filler.h"
#include "framework/memory_plan.h"
#include "framework/passes.h"
#include "framework/random.h"

namespace obo {

namespace {

// Memory this process can still take: the kernel's MemAvailable, or less under a cgroup limit;
// -1 where neither can be read.
int64_t available_memory() {
  int64_t available = -1;
  std::ifstream meminfo("/proc/meminfo");
  for (std::string key; meminfo >> key;) {
    int64_t kb = 0;
    meminfo >> kb;
    if (key == "MemAvailable:") available = kb * 1024;
    meminfo.ignore(256, '\n');
  }
  int64_t limit = 0, used = 0;
  if ((std::ifstream("/sys/fs/cgroup/memory.max") >> limit) && (std::ifstream("/sys/fs/cgroup/memory.current") >> used))
    available = available < 0 ? limit - used : std::min(available, limit - used);
  return available;
}

std::atomic<int64_t> g_memory_limit{0};

std::string gigabytes(int64_t bytes) { return fmt::format("{:.1f} GB", static_cast<double>(bytes) / 1e9); }

}  // namespace

void set_memory_limit(int64_t bytes) { g_memory_limit = bytes; }

Graph::Graph(const onebyone::NetParameter& net, const GraphOptions& options) : options_(options) {
  build(net);
  allocate_state(options.seed);
}

Graph::~Graph() = default;
Graph::Graph(Graph&&) noexcept = default;
Graph& Graph::operator=(Graph&&) noexcept = default;

void Graph::build(const onebyone::NetParameter& net) {
  net_ = ir::connect(net, !options_.training);  // phase 1
  run_passes(net_, options_);                   // phase 2 (framework/passes.h)
  order();
  infer_shapes();
  route_gradients();
  allocate();
}

// Phase 3: Kahn's algorithm, taking the earliest ready layer in file order each time.
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

// Phase 4: every blob's shape, from the inputs' forward, without allocating anything; then the
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
  check_memory();
}

MemoryEstimate Graph::memory_estimate() const {
  MemoryEstimate m;
  for (const auto& [name, b] : net_.blobs) {
    m.activations += count(b->shape) * 4;
    if (options_.training) m.gradients += count(b->shape) * 4;
  }
  for (const Node& node : net_.nodes) {
    for (const Param& p : node.layer->params()) m.parameters += count(p.shape) * 4 * (options_.training ? 4 : 1);
    for (const Buffer& b : node.layer->buffers()) m.parameters += count(b.shape) * 4;
  }
  return m;
}

void Graph::check_memory() const {
  const MemoryEstimate m = memory_estimate();
  int64_t available = available_memory();
  if (g_memory_limit > 0 && (available < 0 || g_memory_limit < available)) available = g_memory_limit;
  if (available < 0 || m.total() <= available) return;
  std::vector<std::string> inputs;
  for (const std::string& name : net_.input_blobs) inputs.push_back(name + " " + to_string(blob(name).shape));
  fail("the net needs about {} with inputs {} (activations {}, their gradients {}, parameters with their gradients "
       "and optimizer state {}), more than the {} of memory available: lower the batch or the input size",
       gigabytes(m.total()), fmt::join(inputs, ", "), gigabytes(m.activations), gigabytes(m.gradients),
       gigabytes(m.parameters), gigabytes(available));
}

// Phase 5: which blobs get gradients and which layers run backward. A gradient starts at every
// differentiable blob no layer consumes (a loss, or a gradient check's objective) and flows back
// along the edges whose consumer propagates it. The first consumer of a blob (in execution
// order) writes the blob's own gradient buffer, each further one a partial buffer that
// backward() adds in before the producer runs.
void Graph::route_gradients() {
  if (!options_.training) return;
  for (Node& node : net_.nodes) {
    bool differentiable = !node.layer->params().empty() || (node.layer->role() == Role::kInput && options_.input_grads);
    for (size_t i = 0; i < node.inputs.size(); ++i)
      differentiable |= node.inputs[i]->differentiable && node.layer->propagates(i);
    for (Blob* b : node.outputs) b->differentiable = differentiable;
    if (!node.outputs.empty()) node.outputs[0]->loss = node.layer->role() == Role::kLoss;
  }
  for (auto& [name, b] : net_.blobs) b->receives_grad = b->differentiable && !b->consumed;
  std::vector<std::vector<bool>> sends(net_.nodes.size());
  for (size_t k = net_.nodes.size(); k-- > 0;) {
    Node& node = net_.nodes[k];
    node.runs_backward = std::any_of(node.outputs.begin(), node.outputs.end(), [](const Blob* b) { return b->receives_grad; });
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      sends[k].push_back(node.runs_backward && node.layer->propagates(i) && node.inputs[i]->differentiable);
      if (sends[k][i]) node.inputs[i]->receives_grad = true;
    }
  }
  std::set<const Blob*> written;
  for (size_t k = 0; k < net_.nodes.size(); ++k) {
    Node& node = net_.nodes[k];
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      if (!sends[k][i]) continue;
      Blob* b = node.inputs[i];
      if (written.insert(b).second) {
        node.in[i].grad = &b->grad;
      } else {
        b->partial_grads.push_back(std::make_unique<Tensor>());
        node.in[i].grad = b->partial_grads.back().get();
      }
    }
    for (size_t i = 0; i < node.outputs.size(); ++i)
      if (node.outputs[i]->receives_grad) node.out[i].grad = &node.outputs[i]->grad;
  }
}

// Phase 6: how long each value lives; every layer reshaped at the inferred shapes (tensors and
// primitives); then memory for values and gradients, shared where their lifetimes allow.
void Graph::allocate() {
  choose_value_lifetimes();
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
  plan_memory();
  seed_losses();
}

// A value the caller reads has memory of its own: an Input blob, a blob no layer reads, one a
// loss or metric reads (the scores reported next to them), and every value of an inference graph
// (a caller may read any: `visualize` does). Every other value lives from its producer's forward
// to its last use: the forward of its last reader, or the latest backward pass that reads it (as
// each layer says). A cheap layer whose inputs are owned has its outputs recomputed before the
// first backward pass that reads them; they are not alive between the passes. Steps as in
// framework/memory_plan.h.
void Graph::choose_value_lifetimes() {
  const size_t n = net_.nodes.size();
  for (auto& [name, b] : net_.blobs) {
    b->owned = !options_.training || !b->consumed;
    b->last_forward = 0;
    b->first_backward = SIZE_MAX;
    b->last_use = 0;
    b->recomputed = false;
  }
  for (Node& node : net_.nodes) node.recompute.clear();
  if (!options_.training) return;
  const auto read_in_backward = [&](Blob* b, size_t i) {
    b->first_backward = std::min(b->first_backward, backward_step(n, i));
    b->last_use = std::max(b->last_use, backward_step(n, i));
  };
  for (size_t i = 0; i < n; ++i) {
    Node& node = net_.nodes[i];
    const Role role = node.layer->role();
    for (size_t k = 0; k < node.inputs.size(); ++k) {
      Blob* b = node.inputs[k];
      b->owned |= role == Role::kLoss || role == Role::kMetric;
      b->last_forward = std::max(b->last_forward, i);
      b->last_use = std::max(b->last_use, i);
      if (node.runs_backward && node.layer->backward_reads_input(k)) read_in_backward(b, i);
    }
    if (role == Role::kInput)
      for (Blob* b : node.outputs) b->owned = true;
    for (size_t k = 0; k < node.outputs.size(); ++k)
      if (node.runs_backward && node.layer->backward_reads_output(k)) read_in_backward(node.outputs[k], i);
  }
  for (size_t i = 0; i < n; ++i) {
    Node& node = net_.nodes[i];
    const auto owned = [](const Blob* b) { return b->owned; };
    const auto read_later = [](const Blob* b) { return !b->owned && b->first_backward != SIZE_MAX; };
    if (!node.layer->cheap_to_recompute() || !std::all_of(node.inputs.begin(), node.inputs.end(), owned) ||
        !std::all_of(node.outputs.begin(), node.outputs.end(), read_later))
      continue;
    size_t first = SIZE_MAX;
    for (Blob* b : node.outputs) {
      b->recomputed = true;
      first = std::min(first, b->first_backward);
    }
    for (Blob* b : node.outputs) b->first_backward = first;  // all are written when it runs again
    net_.nodes[backward_step(n, first)].recompute.push_back(i);  // the step is its own inverse
  }
}

void Graph::plan_memory() {
  // A value the caller does not read lives from its producer's forward to its last use; a
  // gradient from the backward of the consumer that writes it to its producer's backward (which
  // reads it). All live in one arena, placed by plan_memory() (framework/memory_plan.h): NIN at
  // batch 128 then needs 80 MB, what is alive at its busiest step; a buffer per group of tensors
  // that take turns needed 111. So the gradients of the backward pass live where values lived
  // that only the forward pass needed, or that earlier backward passes have finished with. The
  // gradients the caller seeds (blobs no layer reads) get memory of their own.
  struct Use {
    Tensor* value;  // a value to place(), or else
    Tensor* grad;   // a gradient to make a view of `blob`'s value's shape and layout
    const Blob* blob;
  };
  const size_t n = net_.nodes.size();
  std::map<const Blob*, size_t> produced;
  for (size_t i = 0; i < n; ++i)
    for (const Blob* b : net_.nodes[i].outputs) produced[b] = i;
  std::vector<Use> uses;
  std::vector<Lifetime> lifetimes;
  for (auto& [name, b] : net_.blobs) {
    if (b->owned) continue;
    const size_t first = produced.at(b.get());
    uses.push_back({&b->value, nullptr, b.get()});
    lifetimes.push_back({b->value.size(), {{first, b->last_use}}});
    if (b->recomputed) lifetimes.back().spans = {{first, b->last_forward}, {b->first_backward, b->last_use}};
  }
  for (size_t i = 0; i < n; ++i)
    for (size_t k = 0; k < net_.nodes[i].in.size(); ++k)
      if (Tensor* g = net_.nodes[i].in[k].grad) {
        const Blob* b = net_.nodes[i].inputs[k];
        uses.push_back({nullptr, g, b});
        lifetimes.push_back({b->value.size(), {{backward_step(n, i), backward_step(n, produced.at(b))}}});
      }
  for (auto& [name, b] : net_.blobs)
    if (b->receives_grad && !b->consumed) {
      b->grad.reshape(b->value.shape(), b->value.layout());
      b->grad.zero();
    }
  const MemoryPlan plan = obo::plan_memory(lifetimes);
  arena_floats_ = plan.arena;
  largest_live_floats_ = largest_live_set(lifetimes);
  if (arena_.size() < plan.arena) arena_.reshape({static_cast<int64_t>(plan.arena)});
  for (size_t u = 0; u < uses.size(); ++u) {
    float* memory = arena_.data() + plan.offsets[u];
    if (uses[u].value)
      uses[u].value->place(memory);
    else
      *uses[u].grad = Tensor::view(uses[u].blob->value.shape(), memory, uses[u].blob->value.layout());
  }
}

bool Graph::seeds_gradient(const std::string& name) const {
  const Blob& b = *net_.blobs.at(resolve(name));
  return b.loss && b.receives_grad && !b.consumed;
}

void Graph::seed_losses() {
  for (auto& [name, b] : net_.blobs)
    if (seeds_gradient(name)) std::fill(b->grad.data(), b->grad.data() + b->grad.size(), 1.f);
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
  } catch (const dnnl::error& e) {
    fail("layer '{}' ({}): oneDNN failed in {}: {}", node.layer->name(), node.layer->type(), what, e.what());
  }
}

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
  seed_losses();
  for (size_t i = net_.nodes.size(); i-- > 0;) backward_layer(i);
}

void Graph::forward_layer(size_t i, const Context& ctx) {
  context_ = ctx;
  Node& node = net_.nodes.at(i);
  run(node, "forward", [&] { node.layer->forward(node.in, node.out, ctx); });
  dnn::stream().wait();
}

void Graph::backward_layer(size_t i) {
  Node& node = net_.nodes.at(i);
  for (Blob* b : node.outputs) {
    const int64_t n = static_cast<int64_t>(b->grad.size());
    float* sum = b->grad.data();
    for (const auto& partial : b->partial_grads) {
      const float* g = partial->data();
#pragma omp parallel for simd schedule(static)
      for (int64_t k = 0; k < n; ++k) sum[k] += g[k];
    }
  }
  for (size_t p : node.recompute) forward_layer(p, context_);
  if (node.runs_backward) run(node, "backward", [&] { node.layer->backward(node.in, node.out); });
  dnn::stream().wait();
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

std::vector<std::string> Graph::input_names_of(size_t i) const {
  const auto& names = net_.nodes.at(i).layer->config().input();
  return {names.begin(), names.end()};
}

std::vector<std::string> Graph::output_names_of(size_t i) const {
  const auto& names = net_.nodes.at(i).layer->config().output();
  return {names.begin(), names.end()};
}

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
