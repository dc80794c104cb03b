#include "framework/passes.h"

#include <algorithm>
#include <iterator>

namespace obo {

namespace ir {

Use use_of(Net& net, const Blob* blob) {
  Use use;
  for (Node& n : net.nodes) {
    if (!n.layer) continue;
    if (n.layer->name() == blob->producer) use.producer = &n;
    for (const Blob* in : n.inputs)
      if (in == blob) use.readers.push_back(&n);
  }
  return use;
}

void bypass(Net& net, Node& gone) {
  Blob* x = gone.inputs.at(0);
  Blob* y = gone.outputs.at(0);
  gone.layer.reset();
  for (Node& n : net.nodes)
    for (Blob*& in : n.inputs)
      if (in == y) in = x;
  x->consumed = !use_of(net, x).readers.empty();
  net.aliases[y->name] = x->name;
  for (auto& [alias, target] : net.aliases)
    if (target == y->name) target = x->name;
  net.blobs.erase(y->name);
}

void erase_removed(Net& net) {
  net.nodes.erase(std::remove_if(net.nodes.begin(), net.nodes.end(), [](const Node& n) { return !n.layer; }),
                  net.nodes.end());
}

}  // namespace ir

void drop_identities(ir::Net& net) {
  for (ir::Node& node : net.nodes)
    if (node.layer->identity_in_evaluation() && node.inputs.size() == 1 && node.outputs.size() == 1)
      ir::bypass(net, node);
  ir::erase_removed(net);
}

void fuse_post_ops(ir::Net& net) {
  for (ir::Node& elementwise : net.nodes) {
    const std::optional<PostOp> op = elementwise.layer->as_post_op();
    if (!op || elementwise.inputs.size() != 1 || elementwise.outputs.size() != 1) continue;
    const ir::Use use = ir::use_of(net, elementwise.inputs[0]);
    if (!use.producer || use.readers.size() != 1 || use.producer->layer->post_op() ||
        !use.producer->layer->accepts_post_op(*op))
      continue;
    use.producer->layer->fuse(*op);
    ir::bypass(net, elementwise);
  }
  ir::erase_removed(net);
}

void fuse_concatenations(ir::Net& net, bool several_readers) {
  for (ir::Node& concatenation : net.nodes) {
    if (!concatenation.layer || !concatenation.layer->concatenates() || concatenation.outputs.size() != 1) continue;
    ir::Blob* joined = concatenation.outputs[0];
    const ir::Use use = ir::use_of(net, joined);
    const auto accepts = [](const ir::Node* reader) {
      return reader->inputs.size() == 1 && reader->layer->reads_concatenation() && !reader->layer->concatenation();
    };
    if (use.readers.empty() || (use.readers.size() > 1 && !several_readers) ||
        !std::all_of(use.readers.begin(), use.readers.end(), accepts))
      continue;
    // Each reader gets a concatenation of its own (they keep no parameters): the last the layer
    // itself, the others a copy made from its config, as ir::connect made it.
    const Layer& original = *concatenation.layer;
    for (ir::Node* reader : use.readers) {
      reader->inputs = concatenation.inputs;
      reader->layer->absorb(reader == use.readers.back()
                                ? std::move(concatenation.layer)
                                : ir::make_layer(original.config(), original.inference_only()));
    }
    for (auto it = net.aliases.begin(); it != net.aliases.end();)
      it = it->second == joined->name ? net.aliases.erase(it) : std::next(it);
    net.blobs.erase(joined->name);
  }
  ir::erase_removed(net);
}

void run_passes(ir::Net& net, const GraphOptions& options) {
  if (!options.training) drop_identities(net);
  if (!options.fuse) return;
  fuse_post_ops(net);
  fuse_concatenations(net, options.int8.empty());
}

}  // namespace obo
