// Dropout: inverted scaling keeps the mean, evaluation and rate 0 are the identity, masks depend
// on the seed and step only (not on the thread count), and bad rates are rejected.
#include <catch2/catch.hpp>

#include <omp.h>

#include <cstring>

#include "tests/gradient_check.h"
#include "tests/test_util.h"

using namespace obo;
using namespace obo::test;

namespace {

Graph dropout(float ratio, const Shape& shape = {1, 1, 200, 200}) {
  return Graph(single_layer_net({shape}, fmt::format("name: 'drop' type: 'Dropout' input: 'x0' output: 'y' dropout {{ ratio: {} }}", ratio)),
               GraphOptions::for_gradient_check(1));
}

void fill_ones(Graph& g) {
  Tensor& x = g.value("x0");
  std::fill(x.data(), x.data() + x.size(), 1.f);
}

}  // namespace

TEST_CASE("dropout keeps the expected mean and drops about `ratio` of the elements", "[dropout]") {
  const float ratio = GENERATE(0.2f, 0.5f, 0.8f);
  Graph g = dropout(ratio);
  fill_ones(g);
  g.forward(Context::training(42, 0));
  const Tensor& y = g.value("y");
  double sum = 0;
  int64_t zeros = 0;
  for (int64_t i = 0; i < y.count(); ++i) {
    sum += y.data()[i];
    zeros += y.data()[i] == 0.f;
  }
  const double n = static_cast<double>(y.count());
  // 40,000 draws: the mean's standard deviation is sqrt(r / (1 - r) / n) <= 0.01.
  CHECK(sum / n == Approx(1.0).margin(0.04));
  CHECK(zeros / n == Approx(ratio).margin(0.02));
}

TEST_CASE("dropout is the identity in evaluation and at rate 0", "[dropout]") {
  for (const auto& [ratio, train] : {std::pair{0.5f, false}, std::pair{0.f, true}}) {
    Graph g = dropout(ratio, {3, 4, 5, 5});
    randomize_inputs(g, 1);
    g.forward({train, 7, 3});
    const Tensor& x = g.value("x0");
    CHECK(std::memcmp(x.data(), g.value("y").data(), x.size() * sizeof(float)) == 0);
  }
}

TEST_CASE("dropout masks depend on seed and step, not on the thread count", "[dropout]") {
  auto mask = [](int threads, uint64_t seed, uint64_t step) {
    const int before = omp_get_max_threads();
    omp_set_num_threads(threads);
    Graph g = dropout(0.5f, {4, 8, 16, 16});
    fill_ones(g);
    g.forward(Context::training(seed, step));
    omp_set_num_threads(before);
    return g.value("y");
  };
  const Tensor one = mask(1, 9, 4), two = mask(2, 9, 4);
  CHECK(std::memcmp(one.data(), two.data(), one.size() * sizeof(float)) == 0);
  const Tensor next_step = mask(2, 9, 5), other_seed = mask(2, 10, 4);
  CHECK(std::memcmp(one.data(), next_step.data(), one.size() * sizeof(float)) != 0);
  CHECK(std::memcmp(one.data(), other_seed.data(), one.size() * sizeof(float)) != 0);
}

TEST_CASE("dropout's gradient uses the forward pass's mask", "[dropout]") {
  Graph g = dropout(0.3f, {2, 3, 4, 5});
  randomize_inputs(g, 2);
  const GradientReport report = check_gradients(g, {"y"});
  INFO(report.summary());
  CHECK(report.ok());
}

TEST_CASE("a dropout rate below 0 or from 1 up is an error", "[dropout][errors]") {
  CHECK_THROWS_WITH(dropout(1.f), "layer 'drop' (Dropout): dropout.ratio must be in [0, 1), got 1");
  CHECK_THROWS_WITH(dropout(-0.1f), "layer 'drop' (Dropout): dropout.ratio must be in [0, 1), got -0.1");
}
