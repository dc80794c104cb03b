// The generic gradient checker: central differences in double against the graph's backward pass,
// for every Input blob (build the graph with input_grads) and every parameter.
//
//   obo::Graph g(net, GraphOptions::for_gradient_check(1));
//   auto report = obo::test::check_gradients(g, {"y"});
//   CHECK(report.ok());
//
// The objective is sum(r * y) over the named blobs, which no layer may read, with fixed random
// weights r (for a loss blob, r scales the loss). An element is compared with the relative error
// |a - b| / max(|a|, |b|, floor). Where the objective is not linear within the step (a ReLU or
// max-pool kink), the one-sided differences f(x+h)-f(x) and f(x)-f(x-h) disagree, or the central
// difference changes when h halves; the checker then tries smaller steps (h/4, h/16) and counts
// the element as a kink, skipped, when none passes. Too many kinks fail the check.
#pragma once

#include <string>
#include <vector>

#include "framework/graph.h"
#include "onebyone.pb.h"

namespace obo::test {

struct GradientCheck {
  double step = 1e-2;           // the largest step tried
  double tolerance = 1e-3;
  double floor = 1.0;          // relative error is measured against at least this magnitude
  int samples = 40;            // elements checked per tensor (all, when it has fewer)
  // Instead of single elements, check each tensor once along a random direction v: the
  // derivative is then g.v, a sum over the whole tensor, which float rounding through a deep
  // net cannot drown as it does a single weight's gradient.
  bool directional = false;
  double max_kink_share = 0.2; // more skipped elements than this fails the check
  double inject = 1.0;         // multiplies analytic gradients: lets a test prove the checker fails
  Context context = Context::training(1, 0);
};

struct GradientReport {
  int checked = 0;
  int kinks = 0;
  int failures = 0;
  double worst = 0;       // largest relative error seen
  std::string worst_at;   // "conv1.weight[17]: analytic 0.1, numeric 0.2"
  bool ok() const { return checked > 0 && failures == 0 && kinks <= max_kinks; }
  int max_kinks = 0;
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
