// The int8 room: post-training static quantization of a trained net for inference.
//
//   onebyone quantize CKPT --calibrate N
//     Graph g = inference_graph(checkpoint, batch);         // float
//     for each batch of N training images: g.forward(...); observe(g, ranges);
//     store_ranges(ranges, checkpoint.mutable_quantization());
//   inference_graph(quantized checkpoint, batch)             // test, predict, time
//     GraphOptions::int8 = ranges_of(checkpoint.quantization())
//     Graph::build -> plan_int8(net, ranges) before any layer is reshaped
//
// Activations are quantized per tensor, symmetrically, from the range calibration saw (rule
// "max": the least and the greatest value; framework/quantized.h); weights per output channel
// (s8, scale = max |w| / 127 of the channel's row) by each layer, when the graph is frozen.
// Which blobs are stored int8, and at which scale, is decided here, once, for the whole net.
#pragma once

#include <map>
#include <string>

#include "framework/data/dataset.h"
#include "framework/graph.h"
#include "framework/quantized.h"

namespace obo {

using Ranges = std::map<std::string, Range>;

// Widens each blob's range (by its name in the graph) to cover the values it holds now: every
// blob of a float inference graph after a forward pass.
void observe(Graph& graph, Ranges& ranges);

// The plan of an int8 inference graph, given every blob's range: a blob is stored int8 where
// its producer and each of its readers run int8 (Layer::runs_int8), and float elsewhere (the
// images, the scores a loss reads, what a layer without an int8 path reads or writes). A layer
// that keeps scale (Layer::keeps_scale) shares one scale with its int8 inputs and outputs, so
// that, say, a concatenation's inputs are written at the scale of its output: their ranges are
// joined. Every layer that runs int8 is given its plan (Layer::plan_int8); an input without a
// range is an error naming it.
void plan_int8(ir::Net& net, const Ranges& ranges);

// The checkpoint with the ranges of its blobs over every image of `calibration` (run through its
// float inference graph in batches of `batch`, no augmentation): what `onebyone quantize` writes.
// A checkpoint quantized already is refused.
onebyone::Checkpoint quantize(const onebyone::Checkpoint& checkpoint, const Dataset& calibration, int64_t batch);

// How many levels u8 activations get on this CPU: 256, or 128 without VNNI (see
// dnn::int8_unsigned_limit).
int u8_levels();

Ranges ranges_of(const onebyone::Quantization& quantization);
void store_ranges(const Ranges& ranges, onebyone::Quantization* quantization);

}  // namespace obo
