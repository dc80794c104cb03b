#include "framework/autograd.h"

#include <algorithm>
#include <set>

namespace obo {

void route_gradients(ir::Net& net, bool input_grads) {
  for (ir::Node& node : net.nodes) {
    bool differentiable = !node.layer->params().empty() || (node.layer->role() == Role::kInput && input_grads);
    for (size_t i = 0; i < node.inputs.size(); ++i)
      differentiable |= node.inputs[i]->differentiable && node.layer->propagates(i);
    for (ir::Blob* b : node.outputs) b->differentiable = differentiable;
    if (!node.outputs.empty()) node.outputs[0]->loss = node.layer->role() == Role::kLoss;
  }
  for (auto& [name, b] : net.blobs) b->receives_grad = b->differentiable && !b->consumed;
  std::vector<std::vector<bool>> sends(net.nodes.size());
  for (size_t k = net.nodes.size(); k-- > 0;) {
    ir::Node& node = net.nodes[k];
    node.runs_backward = std::any_of(node.outputs.begin(), node.outputs.end(), [](const ir::Blob* b) { return b->receives_grad; });
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      sends[k].push_back(node.runs_backward && node.layer->propagates(i) && node.inputs[i]->differentiable);
      if (sends[k][i]) node.inputs[i]->receives_grad = true;
    }
  }
  std::set<const ir::Blob*> written;
  for (size_t k = 0; k < net.nodes.size(); ++k) {
    ir::Node& node = net.nodes[k];
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      if (!sends[k][i]) continue;
      ir::Blob* b = node.inputs[i];
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

bool seeds_gradient(const ir::Blob& b) { return b.loss && b.receives_grad && !b.consumed; }

void seed_losses(ir::Net& net) {
  for (auto& [name, b] : net.blobs)
    if (seeds_gradient(*b)) std::fill(b->grad.data(), b->grad.data() + b->grad.size(), 1.f);
}

void sum_partial_gradients(const ir::Node& node) {
  for (ir::Blob* b : node.outputs) {
    const int64_t n = static_cast<int64_t>(b->grad.size());
    float* sum = b->grad.data();
    for (const auto& partial : b->partial_grads) {
      const float* g = partial->data();
#pragma omp parallel for simd schedule(static)
      for (int64_t k = 0; k < n; ++k) sum[k] += g[k];
    }
  }
}

}  // namespace obo
