#include "framework/graph_memory.h"

#include <algorithm>
#include <atomic>
#include <fstream>

#include "framework/memory_plan.h"

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

MemoryEstimate estimate_memory(const ir::Net& net, bool training) {
  MemoryEstimate m;
  for (const auto& [name, b] : net.blobs) {
    m.activations += count(b->shape) * 4;
    if (training) m.gradients += count(b->shape) * 4;
  }
  for (const ir::Node& node : net.nodes) {
    for (const Param& p : node.layer->params()) m.parameters += count(p.shape) * 4 * (training ? 4 : 1);
    for (const Buffer& b : node.layer->buffers()) m.parameters += count(b.shape) * 4;
  }
  return m;
}

void check_memory(const ir::Net& net, bool training) {
  const MemoryEstimate m = estimate_memory(net, training);
  int64_t available = available_memory();
  if (g_memory_limit > 0 && (available < 0 || g_memory_limit < available)) available = g_memory_limit;
  if (available < 0 || m.total() <= available) return;
  std::vector<std::string> inputs;
  // Input blobs are never a pass's removed output: each is still a blob of its own name.
  for (const std::string& name : net.input_blobs) inputs.push_back(name + " " + to_string(net.blobs.at(name)->shape));
  fail("the net needs about {} with inputs {} (activations {}, their gradients {}, parameters with their gradients "
       "and optimizer state {}), more than the {} of memory available: lower the batch or the input size",
       gigabytes(m.total()), fmt::join(inputs, ", "), gigabytes(m.activations), gigabytes(m.gradients),
       gigabytes(m.parameters), gigabytes(available));
}

void choose_value_lifetimes(ir::Net& net, bool training) {
  const size_t n = net.nodes.size();
  for (auto& [name, b] : net.blobs) {
    b->owned = !training || !b->consumed;
    b->last_forward = 0;
    b->first_backward = SIZE_MAX;
    b->last_use = 0;
    b->recomputed = false;
  }
  for (ir::Node& node : net.nodes) node.recompute.clear();
  if (!training) return;
  const auto read_in_backward = [&](ir::Blob* b, size_t i) {
    b->first_backward = std::min(b->first_backward, backward_step(n, i));
    b->last_use = std::max(b->last_use, backward_step(n, i));
  };
  for (size_t i = 0; i < n; ++i) {
    ir::Node& node = net.nodes[i];
    const Role role = node.layer->role();
    for (size_t k = 0; k < node.inputs.size(); ++k) {
      ir::Blob* b = node.inputs[k];
      b->owned |= role == Role::kLoss || role == Role::kMetric;
      b->last_forward = std::max(b->last_forward, i);
      b->last_use = std::max(b->last_use, i);
      if (node.runs_backward && node.layer->backward_reads_input(k)) read_in_backward(b, i);
    }
    if (role == Role::kInput)
      for (ir::Blob* b : node.outputs) b->owned = true;
    for (size_t k = 0; k < node.outputs.size(); ++k)
      if (node.runs_backward && node.layer->backward_reads_output(k)) read_in_backward(node.outputs[k], i);
  }
  for (size_t i = 0; i < n; ++i) {
    ir::Node& node = net.nodes[i];
    const auto owned = [](const ir::Blob* b) { return b->owned; };
    const auto read_later = [](const ir::Blob* b) { return !b->owned && b->first_backward != SIZE_MAX; };
    if (!node.layer->cheap_to_recompute() || !std::all_of(node.inputs.begin(), node.inputs.end(), owned) ||
        !std::all_of(node.outputs.begin(), node.outputs.end(), read_later))
      continue;
    size_t first = SIZE_MAX;
    for (ir::Blob* b : node.outputs) {
      b->recomputed = true;
      first = std::min(first, b->first_backward);
    }
    for (ir::Blob* b : node.outputs) b->first_backward = first;  // all are written when it runs again
    net.nodes[backward_step(n, first)].recompute.push_back(i);  // the step is its own inverse
  }
}

Placement place_values(ir::Net& net, Tensor& arena) {
  struct Use {
    Tensor* value;  // a value to place(), or else
    Tensor* grad;   // a gradient to make a view of `blob`'s value's shape and layout
    const ir::Blob* blob;
  };
  const size_t n = net.nodes.size();
  std::map<const ir::Blob*, size_t> produced;
  for (size_t i = 0; i < n; ++i)
    for (const ir::Blob* b : net.nodes[i].outputs) produced[b] = i;
  std::vector<Use> uses;
  std::vector<Lifetime> lifetimes;
  for (auto& [name, b] : net.blobs) {
    if (b->owned) continue;
    const size_t first = produced.at(b.get());
    uses.push_back({&b->value, nullptr, b.get()});
    lifetimes.push_back({b->value.size(), {{first, b->last_use}}});
    if (b->recomputed) lifetimes.back().spans = {{first, b->last_forward}, {b->first_backward, b->last_use}};
  }
  for (size_t i = 0; i < n; ++i)
    for (size_t k = 0; k < net.nodes[i].in.size(); ++k)
      if (Tensor* g = net.nodes[i].in[k].grad) {
        const ir::Blob* b = net.nodes[i].inputs[k];
        uses.push_back({nullptr, g, b});
        lifetimes.push_back({b->value.size(), {{backward_step(n, i), backward_step(n, produced.at(b))}}});
      }
  for (auto& [name, b] : net.blobs)
    if (b->receives_grad && !b->consumed) {
      b->grad.reshape(b->value.shape(), b->value.layout());
      b->grad.zero();
    }
  const MemoryPlan plan = plan_memory(lifetimes);
  if (arena.size() < plan.arena) arena.reshape({static_cast<int64_t>(plan.arena)});
  for (size_t u = 0; u < uses.size(); ++u) {
    float* memory = arena.data() + plan.offsets[u];
    if (uses[u].value)
      uses[u].value->place(memory);
    else
      *uses[u].grad = Tensor::view(uses[u].blob->value.shape(), memory, uses[u].blob->value.layout());
  }
  return {plan.arena, largest_live_set(lifetimes)};
}

}  // namespace obo
