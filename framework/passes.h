// Passes: rewrites of a net that keep what it computes in evaluation. The structural ones work on
// a connected net (framework/graph_ir.h) and run inside Graph's build; the fold works on a
// checkpoint, since it needs the weights. inference_graph() composes them for every command that
// evaluates a trained net (test, predict, time) and for what exports one:
//
//   fold_batch_norm (weights) -> drop_identities -> fuse_post_ops -> order, shapes, memory
//
//   Graph g = inference_graph(load_checkpoint("runs/nin-bn/best.ckpt"));
#pragma once

#include "framework/checkpoint.h"
#include "framework/graph_ir.h"

namespace obo {

namespace ir {

// The layer that produces a blob (null if none is left), and how many layers read it.
struct Use {
  Node* producer = nullptr;
  int readers = 0;
};
Use use_of(Net& net, const Blob* blob);

// A layer with one input x and one output y goes: y's readers read x, and y's name (and every
// alias of it) names x. Its node is left without a layer; erase_removed() drops it.
void bypass(Net& net, Node& gone);
void erase_removed(Net& net);

}  // namespace ir

// An inference net's layers that are the identity in evaluation (Layer::identity_in_evaluation:
// Dropout) go; their outputs name their inputs.
void drop_identities(ir::Net& net);

// An element-wise layer that alone reads the output of a layer that accepts it as a post-op
// (Layer::as_post_op, accepts_post_op) runs inside that layer, once; its output name names the
// layer's output. Training graphs fuse too: the layer then runs the post-op's backward as well.
void fuse_post_ops(ir::Net& net);

// The structural passes a graph of these options runs, in order: drop_identities (inference
// graphs), then fuse_post_ops (unless options.fuse_post_ops is false).
void run_passes(ir::Net& net, const GraphOptions& options);

// Every layer that evaluation reduces to an affine map per channel (BatchNorm) and that alone
// reads the output of a layer computing each output channel as a dot product plus a bias (a
// convolution, FC) is folded into that layer's weights and bias, and removed; the folded layer's
// output takes its name. Layers are asked (Layer::channel_affine, with_bias). The checkpoint
// itself when nothing folds.
onebyone::Checkpoint fold_batch_norm(const onebyone::Checkpoint& checkpoint);

// The checkpoint's net ready to evaluate: folded, then built as an inference graph (which drops
// identities and fuses post-ops), with the checkpoint's weights.
Graph inference_graph(const onebyone::Checkpoint& checkpoint);

}  // namespace obo
