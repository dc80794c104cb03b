#include "framework/graph_ir.h"

#include "framework/registry.h"

namespace obo::ir {

std::unique_ptr<Layer> make_layer(const LayerParameter& config, bool inference) {
  std::unique_ptr<Layer> layer = create_layer(config);
  if (inference) layer->set_inference_only();
  return layer;
}

Net connect(const onebyone::NetParameter& net, bool inference) {
  if (net.layer_size() == 0) fail("the net '{}' has no layers", net.name());
  Net result;
  for (int i = 0; i < net.layer_size(); ++i) {
    const LayerParameter& config = net.layer(i);
    if (config.name().empty()) fail("layer #{} (type '{}') has no name", i + 1, config.type());
    for (const Node& other : result.nodes)
      if (other.layer->name() == config.name()) fail("two layers are named '{}'", config.name());
    Node node;
    node.layer = make_layer(config, inference);
    for (const std::string& name : config.output()) {
      auto& slot = result.blobs[name];
      if (slot)
        fail("layer '{}': output blob '{}' is already produced by layer '{}'", config.name(), name, slot->producer);
      slot = std::make_unique<Blob>();
      slot->name = name;
      slot->producer = config.name();
      node.outputs.push_back(slot.get());
      if (node.layer->role() == Role::kInput) result.input_blobs.push_back(name);
    }
    result.nodes.push_back(std::move(node));
  }
  for (Node& node : result.nodes) {
    for (const std::string& name : node.layer->config().input()) {
      const auto it = result.blobs.find(name);
      if (it == result.blobs.end())
        fail("layer '{}': input blob '{}' is not produced by any layer", node.layer->name(), name);
      it->second->consumed = true;
      node.inputs.push_back(it->second.get());
    }
  }
  return result;
}

}  // namespace obo::ir
