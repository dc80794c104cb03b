// The autograd: which blobs of an ordered net (framework/graph_ir.h) get gradients, which layers
// run backward, and where each consumer writes the gradient it sends. Graph::backward() then
// seeds the losses and, layer by layer in reverse, sums a blob's partial gradients before its
// producer's backward reads them.
#pragma once

#include "framework/graph_ir.h"

namespace obo {

// Which blobs get gradients and which layers run backward. A gradient starts at every
// differentiable blob no layer consumes (a loss, or a gradient check's objective) and flows back
// along the edges whose consumer propagates it. The first consumer of a blob (in execution
// order) writes the blob's own gradient buffer, each further one a partial buffer that
// backward() adds in before the producer runs.
// input_grads: the Input blobs' gradients too (gradient checks). Requires: net.nodes in execution
// order; called once.
void route_gradients(ir::Net& net, bool input_grads);

// Whether backward seeds this blob's gradient with 1 itself: a loss no layer reads.
bool seeds_gradient(const ir::Blob& blob);
void seed_losses(ir::Net& net);

// Adds the partial gradients of the node's outputs (from their further consumers) into their
// gradients, which the node's backward then reads.
void sum_partial_gradients(const ir::Node& node);

}  // namespace obo
