// Optimizers (SGD with momentum, Adam) over the graph's flat parameter/gradient buffers.
//
//   auto opt = obo::make_optimizer(solver, graph);
//   for (int64_t it = 0; ...; ++it) { graph.forward(...); graph.backward(); opt->step(it); }
//
// One step is one OpenMP pass over the whole buffer: each thread takes a contiguous slice and
// applies each parameter's lr/decay multipliers to the part of the slice that parameter covers.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "framework/graph.h"
#include "framework/solver.h"
#include "onebyone.pb.h"

namespace obo {

// The update of a run of `solver`, which must be valid and resolved (framework/solver.h: the
// Trainer gives it resolve()'s solver). The one thing it checks is that a COSINE schedule has
// its max_iter, the one thing resolve() adds.
class Optimizer {
 public:
  Optimizer(const SolverParameter& solver, Graph& graph);
  virtual ~Optimizer() = default;

  // Updates the parameters from the gradients of the last backward pass.
  void step(int64_t iter);
  // Buffers that a checkpoint must keep for an exact resume (momentum, Adam moments).
  std::vector<Tensor*> state();

 protected:
  struct Segment {
    int64_t begin, end;  // [begin, end) in the flat buffer
    float lr_mult, decay_mult;
  };
  // Updates elements [begin, end), all of one parameter, with its lr and weight decay.
  virtual void update(int64_t begin, int64_t end, float lr, float decay, int64_t iter) = 0;

  const SolverParameter solver_;
  float* w_;
  const float* g_;
  int64_t n_;
  std::vector<Segment> segments_;
  std::vector<Tensor> state_;
};

std::unique_ptr<Optimizer> make_optimizer(const SolverParameter& solver, Graph& graph);

}  // namespace obo
