// Optimizers and learning-rate schedules over the graph's flat parameter/gradient buffers.
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
#include "onebyone.pb.h"

namespace obo {

using onebyone::SolverParameter;

// The learning rate at iteration `iter` (0-based): linear warm-up over warmup_iter, then the
// schedule.
double learning_rate(const SolverParameter& solver, int64_t iter);
// Throws, naming the field, on a value no run can use: NaN, infinite, negative or zero where the
// code divides by it or multiplies with it, a schedule missing a field it needs.
void validate(const SolverParameter& solver);
// The solver as a run of `steps_per_epoch` steps an epoch uses it. COSINE without max_iter decays
// over the whole run (epochs * steps_per_epoch), so a run given more epochs stretches its
// schedule; a warm-up longer than half the run is clamped to half, with a notice; a
// test_batch_size of 0 becomes batch_size. Validates first.
SolverParameter resolve(const SolverParameter& solver, int64_t steps_per_epoch, std::vector<std::string>* notices);

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
