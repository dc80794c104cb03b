// The generic gradient checker: every element of every Input blob (build the graph with
// input_grads) and of every parameter, its gradient from the graph's backward pass (the analytic
// gradient, a) against a numeric derivative of the forward pass (n).
//
//   obo::Graph g(net, GraphOptions::for_gradient_check(1));
//   const auto report = obo::test::check_gradients(g, {"y"});
//   INFO(report.summary());
//   CHECK(report.ok());
//
// The objective is sum(r * y) over the named blobs, which no layer may read, with fixed random
// weights r in [-1, 1] (for a loss blob, r is 1). The forward pass runs in float; the objective is
// summed in double.
//
// The numeric derivative. Central differences at steps s and s/2, each perturbation exactly
// representable in float, combined by Richardson extrapolation (4 D(s/2) - D(s)) / 3, whose error
// is O(s^4): a step large enough to keep float rounding small is still exact to the tolerance.
//
// The rule. Element i of tensor t passes when
//     |a_i - n_i| <= tolerance * max(|a_i|, |n_i|, floor * scale_t),
// scale_t being the largest |a| or |n| in tensor t: the error is relative for every gradient down
// to `floor` of the tensor's largest, and measured against that below it, where a gradient is
// too small to matter to the tensor and float rounding of the objective can exceed it.
//
// Kinks. Where the objective is not smooth within the step (a ReLU or a max-pool changes its
// mind), the two central differences disagree beyond their curvature, or the one-sided gaps
// (f(s) - 2 f(0) + f(-s)) / s do not halve with the step; both tests allow for the rounding of
// the outputs that changed. The checker then tries s/4 and s/16, and skips the element as a kink
// when no step is smooth. Each tensor has its own budget: more than max_kink_share of its elements
// skipped, or none checked, fails the check, and a test can read the count (kinks_in).
//
// Mutation. planted() judges the same numeric derivatives against analytic gradients with an
// error planted in them (one element, or all of a tensor), exactly as a backward pass that wrote
// them would be judged: tests show with it that the check fails such a gradient.
#pragma once

#include <string>
#include <vector>

#include "framework/graph.h"
#include "onebyone.pb.h"

namespace obo::test {

struct GradientCheck {
  double step = 1e-1;             // s, the largest step tried
  double tolerance = 1e-3;        // relative error allowed
  double floor = 1e-2;            // of the tensor's largest gradient: see the rule above
  double max_kink_share = 0.02;   // per tensor
  Context context = Context::training(1, 0);
};

// One element: its index in the tensor (plain order), the two gradients, whether it was skipped.
struct Probe {
  int64_t index = 0;
  double analytic = 0, numeric = 0;
  double rounding = 0;  // what float rounding of the objective can contribute to `numeric`
  bool kink = false;
};

struct TensorCheck {
  std::string name;              // an Input blob or a parameter ("conv.weight")
  std::vector<Probe> probes;     // every element, in order
  // Judged:
  double scale = 0;              // largest |a| or |n|
  int checked = 0, kinks = 0, failures = 0;
  double worst_raw = 0;          // largest relative error |a - n| / max(|a|, |n|, floor) among the checked
  double worst = 0;              // the same, less what rounding explains: what the tolerance bounds
  int64_t worst_index = -1;
};

struct GradientReport {
  GradientCheck options;
  std::vector<TensorCheck> tensors;

  // Every tensor checked at least once, within its kink budget, and no failure.
  bool ok() const;
  int checked() const;
  int kinks() const;
  int failures() const;
  int kinks_in(const std::string& tensor) const;  // throws for a name that is not checked
  double worst() const;                           // largest relative error beyond rounding
  double worst_raw() const;                       // largest relative error
  // "conv.weight[17]: analytic 0.1, numeric 0.2 (relative error 0.67, 0.67 beyond rounding)": the
  // element furthest beyond rounding, or where none is, the one with the largest error.
  std::string worst_at() const;
  // One line per tensor: its elements, how many were checked, skipped as kinks and failed, and
  // the worst relative error (and beyond rounding); then worst_at().
  std::string summary() const;

  // The same derivatives judged against analytic gradients with relative error `error` planted:
  // in element `element` of tensor `tensor`, or in all its elements (element -1), or in every
  // element of every tensor (tensor -1).
  GradientReport planted(double error, int tensor = -1, int64_t element = -1) const;
  // A typical element of tensor t to plant an error in: of median |analytic| among the checked
  // elements whose analytic gradient is not 0 (-1 if there is none).
  int64_t typical_element(int tensor) const;
};

GradientReport check_gradients(Graph& g, const std::vector<std::string>& objective,
                               const GradientCheck& options = {});

// Whole nets: the graph's analytic gradients (oneDNN, float) against central differences of the
// same net run in double precision (ReferenceNet), in evaluation mode. Each image input and
// parameter tensor is checked along a random direction v, so the derivative g.v is a sum over
// the whole tensor. In double a tiny step leaves no rounding or curvature to speak of, and the
// perturbation itself is exact, so the bar can be the per-layer one; where the step still
// straddles a ReLU or max-pool kink (the one-sided differences disagree) another direction is
// drawn, and a tensor with no smooth direction among `directions` fails the check.
//
//   obo::Graph g(net, GraphOptions::for_gradient_check(1));   // input gradients too
//   CHECK(check_model_gradients(g, net, "score").ok());
struct ModelCheck {
  double step = 1e-6;
  double tolerance = 1e-3;  // relative error |a - n| / max(|a|, |n|, floor)
  double floor = 1e-2;
  int directions = 6;
  double inject = 1.0;  // multiplies analytic gradients: lets a test prove the check fails
};

struct ModelReport {
  int checked = 0;    // tensors compared along a smooth direction
  int kinks = 0;      // directions skipped for straddling a kink
  int unchecked = 0;  // tensors with no smooth direction
  int failures = 0;
  double worst = 0;
  std::string worst_at;
  bool ok() const { return checked > 0 && failures == 0 && unchecked == 0; }
};

// `g` is built from `net` with input gradients; `objective` is a blob of `net` that no layer
// reads (the class scores, say: remove the loss layers first).
ModelReport check_model_gradients(Graph& g, const onebyone::NetParameter& net, const std::string& objective,
                                  const ModelCheck& options = {});

}  // namespace obo::test
