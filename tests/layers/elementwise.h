// What every element-wise activation is held to; each activation's test file calls it:
//
//   check_elementwise("type: 'ELU' elu { alpha: 0.5 }", [](double x) { return x > 0 ? x : 0.5 * expm1(x); }, true);
//
// Its output against the naive double reference `f` and the gradient checker, on a plain input;
// then after a convolution (whose output is blocked), where it runs fused into the convolution
// if `fuses` (and must compute what the two layers compute apart) or as a layer of its own; there
// the checker skips nothing and fails a gradient 1% off. Installed with OneByOne::testing, for a
// plugin's activations too (find_package(OneByOne COMPONENTS testing) brings Catch2).
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
  randomize_inputs_clear_of_zero(g, 3, 3.f);
  const Tensor& x = g.value("x0");
  g.forward(Context::evaluation());
  Array expected = to_array(x);
  for (double& v : expected.data) v = f(v);
  CHECK(max_relative_error(g.value("y"), expected) < 1e-5);
  GradientReport report = check_gradients(g, {"y"});
  INFO(report.summary());
  CHECK(report.ok());
  CHECK(report.kinks() == 0);

  const auto net = parse_net(R"(
    layer { name: 'in' type: 'Input' output: 'x' input_param { shape { dim: 2 dim: 16 dim: 6 dim: 6 } } }
    layer { name: 'c' type: 'Conv1x1' input: 'x' output: 'c' conv { num_output: 32 } }
    layer { name: 'a' input: 'c' output: 'y' )" + layer + " }");
  Graph separate(net, GraphOptions::for_gradient_check(1).unfused()), fused(net, GraphOptions::for_gradient_check(1));
  CHECK(fused.num_layers() == (fuses ? 2u : 3u));
  randomize_inputs(separate, 5);
  randomize_params(separate, 6, 0.5f);
  CHECK(place_biases_clear_of_zero(separate, "c", *separate.params()[1]) > 0.01);
  fused.value("x").assign_plain(separate.value("x"));
  fused.param_values().assign_plain(separate.param_values());
  for (Graph* h : {&separate, &fused}) h->forward(Context::evaluation());
  CHECK(max_relative_error(fused.value("y"), to_array(separate.value("y"))) < 1e-5);
  report = check_gradients(fused, {"y"});
  INFO(report.summary());
  CHECK(report.ok());
  CHECK(report.kinks() == 0);
  // Behind the convolution too, a gradient 1% off in a typical element of any tensor, or in all
  // of them, fails the check.
  for (size_t t = 0; t < report.tensors.size(); ++t) {
    INFO(report.tensors[t].name);
    CHECK_FALSE(report.planted(0.01, static_cast<int>(t), report.typical_element(static_cast<int>(t))).ok());
  }
  CHECK_FALSE(report.planted(0.01).ok());
}

}  // namespace obo::test
