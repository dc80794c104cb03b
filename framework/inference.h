// The inference room: a trained checkpoint made ready to evaluate. The weights' pass
// (fold_batch_norm) works on the checkpoint; the structural passes (framework/passes.h) run as
// the inference graph is built:
//
//   fold_batch_norm -> drop_identities -> fuse_post_ops -> fuse_concatenations -> order, shapes, memory
//
//   Graph g = inference_graph(load_checkpoint("runs/nin-bn/best.ckpt"), 1000);   // test, predict, time
#pragma once

#include "framework/checkpoint.h"
#include "framework/graph.h"

namespace obo {

// Every layer that evaluation reduces to an affine map per channel (BatchNorm) and that alone
// reads the output of a layer computing each output channel as a dot product plus a bias (a
// convolution, FC) is folded into that layer's weights and bias, and removed; the folded layer's
// output takes its name. Layers are asked (Layer::channel_affine, with_bias). The checkpoint
// itself when nothing folds.
onebyone::Checkpoint fold_batch_norm(const onebyone::Checkpoint& checkpoint);

// The checkpoint's net ready to evaluate: folded, then built as an inference graph (which drops
// identities and fuses post-ops) for `batch` images, with the checkpoint's weights, frozen
// (Graph::freeze: they are converted into the primitives' layouts once). A quantized checkpoint
// (`onebyone quantize`) runs int8 where its layers can (framework/quantize.h).
Graph inference_graph(const onebyone::Checkpoint& checkpoint, int64_t batch);

}  // namespace obo
