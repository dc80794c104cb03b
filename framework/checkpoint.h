// Checkpoints on disk: "OBOCKPT" and the format's version ("1"), the payload's length and CRC-32,
// then the binary Checkpoint message. Saving is atomic (framework/io.h), so a crash or a full disk
// at any moment leaves the previous checkpoint whole; loading rejects a truncated or corrupted
// file, or one of a newer format, by name, before any of it is used, and restoring rejects
// contents that cannot be (shapes that disagree with the net, weights that are not finite).
//
//   onebyone::Checkpoint c;  store_params(graph, &c);  save_checkpoint("runs/nin/last.ckpt", c);
//   restore_params(load_checkpoint("runs/nin/last.ckpt"), graph);
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "framework/graph.h"
#include "onebyone.pb.h"

namespace obo {

// `before_rename` runs after the temporary file is complete and synced: a test's crash point.
void save_checkpoint(const std::string& path, const onebyone::Checkpoint& checkpoint,
                     const std::function<void()>& before_rename = {});
onebyone::Checkpoint load_checkpoint(const std::string& path);
// The same from the file's bytes; `origin` names it in errors.
onebyone::Checkpoint parse_checkpoint(const std::string& bytes, const std::string& origin);

// Parameters and buffers (a net's whole state) by name, plain, in the graph's order.
void store_params(Graph& graph, onebyone::Checkpoint* checkpoint);
// Names and shapes must match the graph's, or the error names the first that differs; every value
// must be finite.
void restore_params(const onebyone::Checkpoint& checkpoint, Graph& graph);

// The checkpoint's net, with its weights and buffers. To evaluate it, inference_graph()
// (framework/inference.h) readies it first.
Graph graph_from(const onebyone::Checkpoint& checkpoint, const GraphOptions& options = {});

// The net with its Input layers' first dimension, the batch, set to `batch`: a graph is built at
// the batch it will run, so that it never holds activations for a larger one.
onebyone::NetParameter at_batch(onebyone::NetParameter net, int64_t batch);

// How two nets differ, ignoring the batch size of their inputs ("" when they are the same net):
// `test MODEL CKPT` must not evaluate weights in a net they were not trained in.
std::string net_difference(const onebyone::NetParameter& a, const onebyone::NetParameter& b);

void store_tensors(const std::vector<Tensor*>& tensors, const std::string& prefix,
                   google::protobuf::RepeatedPtrField<onebyone::BlobProto>* out);
void restore_tensors(const google::protobuf::RepeatedPtrField<onebyone::BlobProto>& blobs,
                     const std::vector<Tensor*>& tensors, const std::string& what);

}  // namespace obo
