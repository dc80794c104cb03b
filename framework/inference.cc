#include "framework/inference.h"

#include "framework/passes.h"
#include "framework/quantize.h"

namespace obo {

onebyone::Checkpoint fold_batch_norm(const onebyone::Checkpoint& checkpoint) {
  // Graphs of one image: only their layers' answers and their weights are read.
  Graph original(at_batch(checkpoint.net(), 1), GraphOptions::inference());
  restore_params(checkpoint, original);
  std::map<std::string, Tensor> values;  // parameters and buffers by name, as the folded net will read them
  for (Param* p : original.params()) values[p->name] = p->value;
  for (Buffer* b : original.buffers()) values[b->name] = b->value;
  onebyone::NetParameter net = checkpoint.net();
  const auto index_of = [&](const std::string& layer) {
    for (int i = 0; i < net.layer_size(); ++i)
      if (net.layer(i).name() == layer) return i;
    fail("no layer '{}' in the net being folded", layer);
  };
  // In execution order, so that a chain of them folds one after the other.
  for (size_t k = 0; k < original.num_layers(); ++k) {
    const Layer& layer = original.layer(k);
    const std::optional<ChannelAffine> affine = layer.channel_affine();
    if (!affine || layer.config().input_size() != 1) continue;
    // Its producer in the net as folded so far, which it must be the only reader of.
    ir::Net folded_so_far = ir::connect(net, /*inference=*/true);
    const ir::Use use = ir::use_of(folded_so_far, folded_so_far.blobs.at(layer.config().input(0)).get());
    if (!use.producer || use.readers.size() != 1) continue;
    const std::optional<LayerParameter> with_bias = use.producer->layer->with_bias();
    if (!with_bias) continue;
    // Row o of the weight times scale[o]; the bias (0 where there was none) to scale * b + shift.
    const std::string& name = with_bias->name();
    Tensor& w = values.at(name + ".weight");
    const int64_t rows = w.dim(0), per_row = w.count() / rows;
    if (rows != static_cast<int64_t>(affine->scale.size())) continue;
    Tensor bias = values.count(name + ".bias") ? values.at(name + ".bias") : Tensor({rows});
    for (int64_t o = 0; o < rows; ++o) {
      for (int64_t i = 0; i < per_row; ++i) w.data()[o * per_row + i] *= affine->scale[o];
      bias.data()[o] = affine->scale[o] * bias.data()[o] + affine->shift[o];
    }
    values[name + ".bias"] = bias;
    const int producer = index_of(name);
    *net.mutable_layer(producer) = *with_bias;
    net.mutable_layer(producer)->set_output(0, layer.config().output(0));
    net.mutable_layer()->DeleteSubrange(index_of(layer.name()), 1);
  }
  if (net.layer_size() == checkpoint.net().layer_size()) return checkpoint;  // nothing to fold
  Graph folded(at_batch(net, 1), GraphOptions::inference());
  for (Param* p : folded.params()) p->value.assign_plain(values.at(p->name));
  for (Buffer* b : folded.buffers()) b->value.assign_plain(values.at(b->name));
  onebyone::Checkpoint result;
  *result.mutable_net() = net;
  *result.mutable_solver() = checkpoint.solver();
  store_params(folded, &result);
  return result;
}

Graph inference_graph(const onebyone::Checkpoint& checkpoint, int64_t batch) {
  const onebyone::Checkpoint folded = fold_batch_norm(checkpoint);
  GraphOptions options = GraphOptions::inference();
  options.int8 = ranges_of(checkpoint.quantization());
  Graph graph(at_batch(folded.net(), batch), options);
  restore_params(folded, graph);
  graph.freeze();
  return graph;
}

}  // namespace obo
