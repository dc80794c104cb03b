// The generic gradient checker: central differences in double against the graph's backward pass,
// for every Input blob (build the graph with input_grads) and every parameter.
//
//   obo::Graph g(net, {.seed = 1, .input_grads = true});
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
  Context context{true, 1, 0};
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

}  // namespace obo::test
