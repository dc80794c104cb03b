// What every element-wise activation is held to; each activation's test file calls it:
//
//   check_elementwise("type: 'ELU' elu { alpha: 0.5 }", [](double x) { return x > 0 ? x : 0.5 * expm1(x); }, true);
//
// Its output against the naive double reference `f` and the gradient checker, on a plain input;
// then after a convolution (whose output is blocked), where it runs fused into the convolution
// if `fuses` (and must compute what the two layers compute apart) or as a layer of its own.
#pragma once

#include <catch2/catch.hpp>

#include <functional>
#include <string>

#include "tests/gradient_check.h"
#include "tests/reference.h"
#include "tests/test_util.h"

namespace obo::test {

inline void check_elementwise(const std::string& layer, const std::function<double(double)>& f, bool fuses) {
  INFO(layer);
  Graph g(single_layer_net({{7, 3, 5, 9}}, "name: 'a' input: 'x0' output: 'y' " + layer),
          GraphOptions::for_gradient_check(1));
  Tensor& x = g.value("x0");
  x.assign_plain(random_tensor(x.shape(), 3, -3.f, 3.f));
  g.forward(Context::evaluation());
  Array expected = to_array(x);
  for (double& v : expected.data) v = f(v);
  CHECK(max_relative_error(g.value("y"), expected) < 1e-5);
  GradientReport report = check_gradients(g, {"y"});
  INFO(report.worst_at);
  CHECK(report.ok());

  const auto net = parse_net(R"(
    layer { name: 'in' type: 'Input' output: 'x' input_param { shape { dim: 2 dim: 16 dim: 6 dim: 6 } } }
    layer { name: 'c' type: 'Conv1x1' input: 'x' output: 'c' conv { num_output: 32 } }
    layer { name: 'a' input: 'c' output: 'y' )" + layer + " }");
  Graph separate(net, GraphOptions::for_gradient_check(1).unfused()), fused(net, GraphOptions::for_gradient_check(1));
  CHECK(fused.num_layers() == (fuses ? 2u : 3u));
  for (Graph* h : {&separate, &fused}) {
    randomize_inputs(*h, 5);
    randomize_params(*h, 6, 0.5f);
    h->forward(Context::evaluation());
  }
  CHECK(max_relative_error(fused.value("y"), to_array(separate.value("y"))) < 1e-5);
  // Each input element reaches 32 activations: a small step keeps most samples clear of kinks.
  GradientCheck small_step;
  small_step.step = 1e-3;
  report = check_gradients(fused, {"y"}, small_step);
  INFO(report.worst_at);
  CHECK(report.ok());
}

}  // namespace obo::test
