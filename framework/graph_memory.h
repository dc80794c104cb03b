// A graph's memory: what its values need (checked against what the machine has before anything
// is allocated), how long each lives, and where in one arena each value and gradient is placed
// (by the pure planner of framework/memory_plan.h).
#pragma once

#include <cstdint>

#include "framework/graph_ir.h"

namespace obo {

// What training a net at its current shapes takes, estimated from the shapes alone.
struct MemoryEstimate {
  int64_t activations = 0;  // bytes of every blob's value
  int64_t gradients = 0;    // bytes of the blobs' gradients (an upper bound: buffers are shared)
  int64_t parameters = 0;   // bytes of parameters, their gradients, two optimizer buffers, layer buffers
  int64_t total() const { return activations + gradients + parameters; }
};
MemoryEstimate estimate_memory(const ir::Net& net, bool training);

// Graphs refuse shapes whose estimated memory exceeds what the machine has available, or this
// limit when it is lower (0: no limit of our own). For a process that shares a machine, or a fuzzer.
void set_memory_limit(int64_t bytes);
// Fails, naming the inputs' shapes and where the memory goes, if the net does not fit.
void check_memory(const ir::Net& net, bool training);

// A value the caller reads has memory of its own: an Input blob, a blob no layer reads, one a
// loss or metric reads (the scores reported next to them), and every value of an inference graph
// (a caller may read any: `visualize` does). Every other value lives from its producer's forward
// to its last use: the forward of its last reader, or the latest backward pass that reads it (as
// each layer says). A cheap layer whose inputs are owned has its outputs recomputed before the
// first backward pass that reads them; they are not alive between the passes. Steps as in
// framework/memory_plan.h.
// Requires: net.nodes in execution order, gradients routed (framework/autograd.h).
void choose_value_lifetimes(ir::Net& net, bool training);

// A value the caller does not read lives from its producer's forward to its last use; a
// gradient from the backward of the consumer that writes it to its producer's backward (which
// reads it). All live in one arena, placed by plan_memory() (framework/memory_plan.h): NIN at
// batch 128 then needs 80 MB, what is alive at its busiest step; a buffer per group of tensors
// that take turns needed 111. So the gradients of the backward pass live where values lived
// that only the forward pass needed, or that earlier backward passes have finished with. The
// gradients the caller seeds (blobs no layer reads) get memory of their own.
// Requires: lifetimes chosen and every layer reshaped (placement reads the sizes and layouts
// reshape chose). Grows the arena if it is too small. Returns the arena it needs and the most
// floats alive at one step, which no placement can go below.
struct Placement {
  size_t arena_floats = 0, largest_live_floats = 0;
};
Placement place_values(ir::Net& net, Tensor& arena);

}  // namespace obo
