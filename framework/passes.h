// Structural passes: rewrites of a connected net (framework/graph_ir.h), in place, that keep what
// it computes in evaluation. Graph's build runs them (run_passes) before it orders the layers;
// framework/inference.h adds the one that changes weights.
#pragma once

#include "framework/graph.h"
#include "framework/graph_ir.h"

namespace obo {

namespace ir {

// The layer that produces a blob (null if none is left), and the layers that read it, in the
// net's order, a layer as many times as it reads the blob.
struct Use {
  Node* producer = nullptr;
  std::vector<Node*> readers;
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

// A concatenation (Layer::concatenates) whose output every reader reads as its one input goes
// into each of them where all accept (Layer::reads_concatenation: a max-pool, a 1x1
// convolution), which then read the concatenation's inputs (Layer::absorb). Its output blob
// goes, and names nothing. Into one reader only unless `several_readers`: an int8 convolution
// joins the parts itself (a u8 output cannot hold partial sums), so several would each copy them.
void fuse_concatenations(ir::Net& net, bool several_readers);

// The structural passes a graph of these options runs, in order: drop_identities (inference
// graphs), then fuse_post_ops and fuse_concatenations (unless options.fuse is false).
void run_passes(ir::Net& net, const GraphOptions& options);

}  // namespace obo
