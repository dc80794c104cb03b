#include "tests/reference.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "framework/error.h"

namespace obo::test {

std::vector<double> conv_ref(const Tensor& x, const Tensor& w, const Tensor* b, int stride, int pad,
                             Shape* out_shape) {
  const int64_t N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3);
  const int64_t O = w.dim(0), K = w.dim(2);
  const int64_t Ho = (H + 2 * pad - K) / stride + 1, Wo = (W + 2 * pad - K) / stride + 1;
  *out_shape = {N, O, Ho, Wo};
  std::vector<double> y(N * O * Ho * Wo);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < O; ++o)
      for (int64_t i = 0; i < Ho; ++i)
        for (int64_t j = 0; j < Wo; ++j) {
          double sum = b ? b->data()[o] : 0.0;
          for (int64_t c = 0; c < C; ++c)
            for (int64_t ki = 0; ki < K; ++ki)
              for (int64_t kj = 0; kj < K; ++kj) {
                const int64_t h = i * stride - pad + ki, v = j * stride - pad + kj;
                if (h < 0 || h >= H || v < 0 || v >= W) continue;
                sum += static_cast<double>(x.data()[((n * C + c) * H + h) * W + v]) *
                       w.data()[((o * C + c) * K + ki) * K + kj];
              }
          y[((n * O + o) * Ho + i) * Wo + j] = sum;
        }
  return y;
}

std::vector<double> pool_ref(const Tensor& x, PoolKind kind, int kh, int kw, int sh, int sw, int pad,
                             Shape* out_shape) {
  const int64_t N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3);
  const int64_t Ho = (H + 2 * pad - kh) / sh + 1, Wo = (W + 2 * pad - kw) / sw + 1;
  *out_shape = {N, C, Ho, Wo};
  std::vector<double> y(N * C * Ho * Wo);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t i = 0; i < Ho; ++i)
        for (int64_t j = 0; j < Wo; ++j) {
          double best = -std::numeric_limits<double>::infinity(), sum = 0;
          int64_t inside = 0;
          for (int64_t a = 0; a < kh; ++a)
            for (int64_t b = 0; b < kw; ++b) {
              const int64_t h = i * sh - pad + a, v = j * sw - pad + b;
              if (h < 0 || h >= H || v < 0 || v >= W) continue;
              const double value = x.data()[((n * C + c) * H + h) * W + v];
              best = std::max(best, value);
              sum += value;
              ++inside;
            }
          double out = best;
          if (kind == PoolKind::kAvgIncludePad) out = sum / (kh * kw);
          if (kind == PoolKind::kAvgExcludePad) out = sum / inside;
          y[((n * C + c) * Ho + i) * Wo + j] = out;
        }
  return y;
}

std::vector<double> fc_ref(const Tensor& x, const Tensor& w, const Tensor* b) {
  const int64_t N = x.dim(0), F = x.count() / N, O = w.dim(0);
  std::vector<double> y(N * O);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < O; ++o) {
      double sum = b ? b->data()[o] : 0.0;
      for (int64_t f = 0; f < F; ++f) sum += static_cast<double>(x.data()[n * F + f]) * w.data()[o * F + f];
      y[n * O + o] = sum;
    }
  return y;
}

double softmax_cross_entropy_ref(const Tensor& scores, const Tensor& labels) {
  const int64_t N = scores.dim(0), K = scores.count() / N;
  double loss = 0;
  for (int64_t n = 0; n < N; ++n) {
    const float* s = scores.data() + n * K;
    const double top = *std::max_element(s, s + K);
    double z = 0;
    for (int64_t k = 0; k < K; ++k) z += std::exp(s[k] - top);
    loss -= s[static_cast<int64_t>(labels.data()[n])] - top - std::log(z);
  }
  return loss / N;
}

double max_relative_error(const Tensor& actual, const std::vector<double>& expected) {
  const Tensor plain = actual.to_plain();
  if (static_cast<size_t>(plain.count()) != expected.size())
    fail("output has {} elements, the reference {}", plain.count(), expected.size());
  double worst = 0;
  for (size_t i = 0; i < expected.size(); ++i)
    worst = std::max(worst, std::abs(plain.data()[i] - expected[i]) / std::max(1.0, std::abs(expected[i])));
  return worst;
}

}  // namespace obo::test
