// The solver, as a run uses it: which values are usable, what a run of a given length makes of
// them, and the learning rate at each step.
//
// A solver is checked once, where it enters: read_solver() checks a solver file (naming it),
// load_checkpoint() a checkpoint's, and a Trainer one made in code. resolve(), learning_rate()
// and the optimizers then take it as valid.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "onebyone.pb.h"

namespace obo {

using onebyone::SolverParameter;

// Throws "<origin>: <field> must be <rule>, got <value>" on a value no run can use: NaN,
// infinite, negative or zero where the code divides by it or multiplies with it, a schedule
// missing a field it needs.
void validate(const SolverParameter& solver, const std::string& origin = "solver");
// A valid solver as a run of `steps_per_epoch` steps an epoch uses it. COSINE without max_iter
// decays over the whole run (epochs * steps_per_epoch), so a run given more epochs stretches its
// schedule; a warm-up longer than half the run is clamped to half, with a notice; a
// test_batch_size of 0 becomes batch_size.
SolverParameter resolve(const SolverParameter& solver, int64_t steps_per_epoch, std::vector<std::string>* notices);
// The learning rate at iteration `iter` (0-based) of a resolved solver: linear warm-up over
// warmup_iter, then the schedule.
double learning_rate(const SolverParameter& solver, int64_t iter);

}  // namespace obo
