// The memory planner: where each tensor of a training step lives in one arena, given the steps at
// which it is alive. A pure function of sizes and lifetimes; the graph says what those are.
//
// Steps: one timeline for both passes. Of a graph of n layers, layer i runs forward at step i and
// backward at step backward_step(n, i) = 2n-1-i, so that every backward pass comes after every
// forward pass, in reverse order.
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

namespace obo {

inline size_t backward_step(size_t layers, size_t i) { return 2 * layers - 1 - i; }

// A tensor to place: its size in floats and the steps it is alive, each span first to last,
// inclusive (a recomputed value has two: its forward use, and the backward passes that read it).
struct Lifetime {
  size_t size = 0;
  std::vector<std::pair<size_t, size_t>> spans;
};

bool alive_together(const Lifetime& a, const Lifetime& b);

// The most floats alive at any one step: no plan can use a smaller arena.
size_t largest_live_set(const std::vector<Lifetime>& tensors);

struct MemoryPlan {
  static constexpr size_t kAlign = 16;  // floats: every tensor starts on a 64-byte line
  std::vector<size_t> offsets;          // of each tensor, in floats, a multiple of kAlign
  size_t arena = 0;                     // floats
};

// Ensures: tensors alive together never overlap; arena >= largest_live_set(tensors) and covers
// every tensor. Greedy by size (as TensorFlow Lite plans its arena): largest first, each at the
// lowest aligned offset where it fits beside the tensors already placed that are alive with it.
// Not optimal (that is NP-hard): on the shipped models' training steps the arena is 1.00 to 1.20
// times the largest live set, natively and held to AVX2 (LeNet's and Inception's the worst), on
// random lifetimes under 1.5 times (tests/memory_plan_test.cc).
MemoryPlan plan_memory(const std::vector<Lifetime>& tensors);

}  // namespace obo
