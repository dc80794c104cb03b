#include "framework/quantize.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>
#include <set>

#include "framework/dnnl_seam.h"
#include "framework/inference.h"
#include "framework/trainer.h"

namespace obo {

namespace {

// ranges[name] made to hold r too (r, where it had none).
void widen(Ranges& ranges, const std::string& name, const Range& r) {
  const auto [it, first] = ranges.try_emplace(name, r);
  if (!first) it->second = covering(it->second, r);
}

}  // namespace

void observe(Graph& graph, Ranges& ranges) {
  for (const auto& [name, blob] : graph.net().blobs) {
    if (blob->value.empty()) continue;
    const Tensor plain = blob->value.to_plain();
    const auto [lo, hi] = std::minmax_element(plain.data(), plain.data() + plain.count());
    widen(ranges, name, {*lo, *hi});
  }
  // An absorbed concatenation's join is no blob here, but an int8 graph, which gives it to one
  // reader only (fuse_concatenations), may store it: its range is its parts' together.
  for (const ir::Node& n : graph.net().nodes)
    if (const Layer* join = n.layer->concatenation())
      for (const ir::Blob* b : n.inputs) widen(ranges, join->config().output(0), ranges.at(b->name));
}

void plan_int8(ir::Net& net, const Ranges& ranges) {
  // Which blobs are stored int8.
  std::map<const ir::Blob*, std::vector<const ir::Node*>> readers;
  for (const ir::Node& n : net.nodes)
    for (const ir::Blob* b : n.inputs) readers[b].push_back(&n);
  std::map<std::string, const ir::Node*> producers;
  for (const ir::Node& n : net.nodes)
    for (const ir::Blob* b : n.outputs) producers[b->name] = &n;
  std::set<const ir::Blob*> int8_blobs;
  for (const auto& [name, blob] : net.blobs) {
    const auto r = readers.find(blob.get());
    if (producers.count(name) && producers.at(name)->layer->runs_int8() && r != readers.end() && ranges.count(name) &&
        std::all_of(r->second.begin(), r->second.end(), [](const ir::Node* n) { return n->layer->runs_int8(); }))
      int8_blobs.insert(blob.get());
  }
  const auto stored_int8 = [&](const ir::Blob* b) { return int8_blobs.count(b) > 0; };

  // Blobs that must share a scale, joined (union-find by name), and each group's joint range.
  std::map<std::string, std::string> parent;
  const std::function<std::string(const std::string&)> root = [&](const std::string& name) {
    const auto it = parent.find(name);
    return it == parent.end() || it->second == name ? name : it->second = root(it->second);
  };
  // An absorbed concatenation (fuse_concatenations) keeps the scale of its inputs, as the layer did.
  const auto joins_inputs = [](const Layer& l) { return l.concatenation() && l.concatenation()->keeps_scale(); };
  for (const ir::Node& n : net.nodes) {
    if (!n.layer->runs_int8() || !(n.layer->keeps_scale() || joins_inputs(*n.layer))) continue;
    std::vector<const ir::Blob*> shared;
    for (const ir::Blob* b : n.inputs)
      if (stored_int8(b)) shared.push_back(b);
    for (const ir::Blob* b : n.outputs)
      if (stored_int8(b) && n.layer->keeps_scale()) shared.push_back(b);
    for (size_t i = 1; i < shared.size(); ++i) parent[root(shared[i]->name)] = root(shared[0]->name);
  }
  Ranges joint;
  for (const auto& [name, range] : ranges) widen(joint, root(name), range);

  const int limit = dnn::int8_unsigned_limit();
  const auto quantized = [&](const Range& r) { return obo::quantized(r, limit); };
  for (ir::Node& n : net.nodes) {
    if (!n.layer->runs_int8()) continue;
    Int8Plan plan;
    for (const ir::Blob* b : n.inputs) {
      if (!ranges.count(b->name))
        n.layer->error("input '{}' has no calibrated range: the checkpoint was quantized for another net", b->name);
      plan.in.push_back(quantized(stored_int8(b) ? joint.at(root(b->name)) : ranges.at(b->name)));
    }
    for (const ir::Blob* b : n.outputs)
      plan.out.push_back(stored_int8(b) ? std::optional<Quantized>(quantized(joint.at(root(b->name)))) : std::nullopt);
    // An absorbed concatenation, where its reader has it join the inputs: the join at the scale
    // of the reader's output where the reader keeps the scale (a max-pool; float where that is
    // float), else stored int8 over the inputs' ranges together, as the blob it no longer writes
    // would have been.
    if (Layer* join = n.layer->concatenation(); join && join->runs_int8()) {
      std::optional<Quantized> q = plan.out.at(0);
      if (!n.layer->keeps_scale()) {
        Range joined = joint.at(root(n.inputs.at(0)->name));
        for (const ir::Blob* b : n.inputs) joined = covering(joined, joint.at(root(b->name)));
        q = quantized(joined);
      }
      join->plan_int8({plan.in, {q}});
    }
    n.layer->plan_int8(std::move(plan));
  }
}

onebyone::Checkpoint quantize(const onebyone::Checkpoint& checkpoint, const Dataset& calibration, int64_t batch) {
  if (checkpoint.has_quantization())
    fail("the checkpoint is quantized already (from {} images): quantize the float checkpoint it came from",
         checkpoint.quantization().calibration_images());
  if (calibration.count < 1) fail("no calibration images");
  Graph graph = inference_graph(checkpoint, std::min(batch, calibration.count));
  const NetRoles roles = find_roles(graph);
  std::vector<int64_t> order(calibration.count);
  std::iota(order.begin(), order.end(), 0);
  Ranges ranges;
  for (int64_t first = 0; first < calibration.count; first += batch) {
    const int64_t n = std::min(batch, calibration.count - first);
    if (graph.batch() != n) graph.set_batch(n);
    fill_batch(calibration, order, first, {}, graph.value(roles.images), graph.value(roles.labels));
    graph.forward(Context::evaluation());
    observe(graph, ranges);
  }
  onebyone::Checkpoint quantized = checkpoint;
  quantized.mutable_quantization()->set_calibration_images(calibration.count);
  quantized.mutable_quantization()->set_rule("max");
  store_ranges(ranges, quantized.mutable_quantization());
  return quantized;
}

int u8_levels() { return dnn::int8_unsigned_limit() + 1; }

Ranges ranges_of(const onebyone::Quantization& quantization) {
  Ranges ranges;
  for (const onebyone::BlobRange& r : quantization.range()) {
    if (!std::isfinite(r.min()) || !std::isfinite(r.max()) || r.min() > r.max())
      fail("the quantization's range of blob '{}' is [{}, {}]: not a range", r.blob(), r.min(), r.max());
    ranges[r.blob()] = {r.min(), r.max()};
  }
  return ranges;
}

void store_ranges(const Ranges& ranges, onebyone::Quantization* quantization) {
  quantization->clear_range();
  for (const auto& [name, r] : ranges) {
    onebyone::BlobRange* out = quantization->add_range();
    out->set_blob(name);
    out->set_min(r.min);
    out->set_max(r.max);
  }
}

}  // namespace obo
