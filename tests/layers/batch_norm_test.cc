// BatchNorm: training by the batch's statistics, evaluation by the running ones, both against the
// naive reference and the gradient checker; the running statistics as PyTorch keeps them.
#include <catch2/catch.hpp>

#include <cmath>

#include "tests/gradient_check.h"
#include "tests/reference.h"
#include "tests/test_util.h"

using namespace obo;
using namespace obo::test;

TEST_CASE("BatchNorm normalises by the batch in training and by running statistics in evaluation", "[batch_norm]") {
  const Shape shape = GENERATE(Shape{4, 16, 5, 3}, Shape{9, 5, 1, 1}, Shape{6, 7});
  const bool after_conv = shape.size() == 4 && shape[1] == 16 && GENERATE(false, true);
  INFO(to_string(shape) << (after_conv ? " after a convolution" : ""));
  const std::string input =
      "layer { name: 'in' type: 'Input' output: 'x' input_param { shape { " + dims_text(shape) + "} } }\n";
  const std::string conv = "layer { name: 'c' type: 'Conv1x1' input: 'x' output: 'c' conv { num_output: 16 bias_term: false } }\n";
  Graph g(parse_net(input + (after_conv ? conv : "") + "layer { name: 'bn' type: 'BatchNorm' input: '" +
                    (after_conv ? "c" : "x") + "' output: 'y' batch_norm { momentum: 0.8 epsilon: 0.001 } }"),
          GraphOptions::for_gradient_check(1));
  REQUIRE(g.buffers().size() == 2);
  const Param &scale = *g.params()[g.params().size() - 2], &shift = *g.params().back();
  CHECK(scale.value.data()[0] == 1.f);
  CHECK(shift.value.data()[0] == 0.f);
  Tensor &mean = g.buffers()[0]->value, &var = g.buffers()[1]->value;
  randomize_inputs(g, 3);
  randomize_params(g, 4, 0.5f);
  const std::string x_name = after_conv ? "c" : "x";

  // Training: the batch's statistics; the running ones move a fifth of the way (momentum 0.8).
  std::fill(mean.data(), mean.data() + mean.count(), 0.f);
  std::fill(var.data(), var.data() + var.count(), 1.f);
  g.forward(Context::training(1, 0));
  const Array x = to_array(g.value(x_name));
  CHECK(max_relative_error(g.value("y"), batch_norm_ref(x, to_array(scale.value), to_array(shift.value), nullptr,
                                                         nullptr, 0.001)) < 1e-5);
  const int64_t c = x.shape[1], per = count(x.shape) / c;
  for (int64_t k = 0; k < c; ++k) {
    double m = 0, v = 0;
    for (int64_t n = 0; n < x.shape[0]; ++n)
      for (int64_t j = 0; j < per / x.shape[0]; ++j) m += x.data[(n * c + k) * (per / x.shape[0]) + j] / per;
    for (int64_t n = 0; n < x.shape[0]; ++n)
      for (int64_t j = 0; j < per / x.shape[0]; ++j) {
        const double d = x.data[(n * c + k) * (per / x.shape[0]) + j] - m;
        v += d * d / (per - 1);  // unbiased, as PyTorch keeps it
      }
    CHECK(mean.data()[k] == Approx(0.2 * m).margin(1e-6));
    CHECK(var.data()[k] == Approx(0.8 + 0.2 * v).epsilon(1e-5));
  }
  GradientReport report = check_gradients(g, {"y"});
  INFO(report.summary());
  CHECK(report.ok());

  // Evaluation: the running statistics, and a fixed affine map whose gradients check too.
  for (int64_t k = 0; k < c; ++k) var.data()[k] = 0.5f + 0.1f * k;
  const std::vector<float> mean_before(mean.data(), mean.data() + c), var_before(var.data(), var.data() + c);
  g.forward(Context::evaluation());
  const Array running_mean = to_array(mean), running_var = to_array(var);
  CHECK(max_relative_error(g.value("y"), batch_norm_ref(to_array(g.value(x_name)), to_array(scale.value),
                                                         to_array(shift.value), &running_mean, &running_var, 0.001)) <
        1e-5);
  GradientCheck eval;
  eval.context = Context::evaluation();
  report = check_gradients(g, {"y"}, eval);
  INFO(report.summary());
  CHECK(report.ok());
  // Hundreds of evaluation passes later, the running statistics are as they were, bit for bit.
  CHECK(std::equal(mean_before.begin(), mean_before.end(), mean.data()));
  CHECK(std::equal(var_before.begin(), var_before.end(), var.data()));
}

TEST_CASE("BatchNorm's parameters are checked", "[batch_norm][errors]") {
  const std::string input = "layer { name: 'in' type: 'Input' output: 'x' input_param { shape { dim: 2 dim: 3 } } }\n";
  CHECK_THROWS_WITH(Graph(parse_net(input + "layer { name: 'bn' type: 'BatchNorm' input: 'x' output: 'y' batch_norm { momentum: 1 } }")),
                    "layer 'bn' (BatchNorm): batch_norm.momentum must be in [0, 1), got 1");
  CHECK_THROWS_WITH(Graph(parse_net(input + "layer { name: 'bn' type: 'BatchNorm' input: 'x' output: 'y' batch_norm { epsilon: 0 } }")),
                    "layer 'bn' (BatchNorm): batch_norm.epsilon must be positive, got 0");
}
