#include "tests/reference.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "framework/error.h"

namespace obo::test {

using onebyone::LayerParameter;

Array to_array(const Tensor& t) {
  const Tensor plain = t.to_plain();
  return {plain.shape(), std::vector<double>(plain.data(), plain.data() + plain.count())};
}

Array conv_ref(const Array& x, const Array& w, const Array* b, int stride, int pad) {
  const int64_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3];
  const int64_t O = w.shape[0], K = w.shape[2];
  const int64_t Ho = (H + 2 * pad - K) / stride + 1, Wo = (W + 2 * pad - K) / stride + 1;
  Array y{{N, O, Ho, Wo}, std::vector<double>(N * O * Ho * Wo)};
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < O; ++o)
      for (int64_t i = 0; i < Ho; ++i)
        for (int64_t j = 0; j < Wo; ++j) {
          double sum = b ? b->data[o] : 0.0;
          for (int64_t c = 0; c < C; ++c)
            for (int64_t ki = 0; ki < K; ++ki)
              for (int64_t kj = 0; kj < K; ++kj) {
                const int64_t h = i * stride - pad + ki, v = j * stride - pad + kj;
                if (h < 0 || h >= H || v < 0 || v >= W) continue;
                sum += x.data[((n * C + c) * H + h) * W + v] * w.data[((o * C + c) * K + ki) * K + kj];
              }
          y.data[((n * O + o) * Ho + i) * Wo + j] = sum;
        }
  return y;
}

Array pool_ref(const Array& x, PoolKind kind, int kh, int kw, int sh, int sw, int pad) {
  const int64_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3];
  const int64_t Ho = (H + 2 * pad - kh) / sh + 1, Wo = (W + 2 * pad - kw) / sw + 1;
  Array y{{N, C, Ho, Wo}, std::vector<double>(N * C * Ho * Wo)};
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
              const double value = x.data[((n * C + c) * H + h) * W + v];
              best = std::max(best, value);
              sum += value;
              ++inside;
            }
          double out = best;
          if (kind == PoolKind::kAvgIncludePad) out = sum / (kh * kw);
          if (kind == PoolKind::kAvgExcludePad) out = sum / inside;
          y.data[((n * C + c) * Ho + i) * Wo + j] = out;
        }
  return y;
}

Array fc_ref(const Array& x, const Array& w, const Array* b) {
  const int64_t N = x.shape[0], F = count(x.shape) / N, O = w.shape[0];
  Array y{{N, O}, std::vector<double>(N * O)};
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < O; ++o) {
      double sum = b ? b->data[o] : 0.0;
      for (int64_t f = 0; f < F; ++f) sum += x.data[n * F + f] * w.data[o * F + f];
      y.data[n * O + o] = sum;
    }
  return y;
}

namespace {

// Calls f(n, c, i) for every element of x (N,C,...): example, channel, index in x.data.
template <typename F>
void per_channel(const Array& x, F&& f) {
  const int64_t N = x.shape[0], C = x.shape[1], inner = count(x.shape) / (N * C);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t j = 0; j < inner; ++j) f(n, c, (n * C + c) * inner + j);
}

}  // namespace

Array batch_norm_ref(const Array& x, const Array& scale, const Array& shift, const Array* mean, const Array* var,
                     double eps) {
  const int64_t C = x.shape[1], per = count(x.shape) / C;
  std::vector<double> m(C, 0), v(C, 0);
  if (mean) {
    m = mean->data;
    v = var->data;
  } else {
    per_channel(x, [&](int64_t, int64_t c, int64_t i) { m[c] += x.data[i] / per; });
    per_channel(x, [&](int64_t, int64_t c, int64_t i) { v[c] += (x.data[i] - m[c]) * (x.data[i] - m[c]) / per; });
  }
  Array y = x;
  per_channel(x, [&](int64_t, int64_t c, int64_t i) {
    y.data[i] = (x.data[i] - m[c]) / std::sqrt(v[c] + eps) * scale.data[c] + shift.data[c];
  });
  return y;
}

Array prelu_ref(const Array& x, const Array& slope) {
  Array y = x;
  per_channel(x, [&](int64_t, int64_t c, int64_t i) { y.data[i] = x.data[i] > 0 ? x.data[i] : slope.data[c] * x.data[i]; });
  return y;
}

Array softmax_ref(const Array& x) {
  const int64_t N = x.shape[0], C = x.shape[1], inner = count(x.shape) / (N * C);
  Array y = x;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t j = 0; j < inner; ++j) {
      auto at = [&](int64_t c) { return (n * C + c) * inner + j; };
      double top = x.data[at(0)], z = 0;
      for (int64_t c = 1; c < C; ++c) top = std::max(top, x.data[at(c)]);
      for (int64_t c = 0; c < C; ++c) z += std::exp(x.data[at(c)] - top);
      for (int64_t c = 0; c < C; ++c) y.data[at(c)] = std::exp(x.data[at(c)] - top) / z;
    }
  return y;
}

Array lrn_ref(const Array& x, int size, double alpha, double beta, double k) {
  const int64_t N = x.shape[0], C = x.shape[1], HW = x.shape[2] * x.shape[3];
  Array y = x;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t j = 0; j < HW; ++j) {
        double sum = 0;
        for (int64_t d = std::max<int64_t>(0, c - size / 2); d <= std::min<int64_t>(C - 1, c + size / 2); ++d)
          sum += x.data[(n * C + d) * HW + j] * x.data[(n * C + d) * HW + j];
        y.data[(n * C + c) * HW + j] = x.data[(n * C + c) * HW + j] / std::pow(k + alpha / size * sum, beta);
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

double max_relative_error(const Tensor& actual, const Array& expected) {
  const Tensor plain = actual.to_plain();
  if (plain.shape() != expected.shape)
    fail("output has shape {}, the reference {}", to_string(plain.shape()), to_string(expected.shape));
  double worst = 0;
  for (size_t i = 0; i < expected.data.size(); ++i)
    worst = std::max(worst, std::abs(plain.data()[i] - expected.data[i]) / std::max(1.0, std::abs(expected.data[i])));
  return worst;
}

Array concat_ref(const std::vector<const Array*>& xs) {
  const int64_t N = xs[0]->shape[0], H = xs[0]->shape[2], W = xs[0]->shape[3];
  int64_t C = 0;
  for (const Array* x : xs) C += x->shape[1];
  Array y{{N, C, H, W}, {}};
  for (int64_t n = 0; n < N; ++n)
    for (const Array* x : xs) {
      const int64_t per_example = x->shape[1] * H * W;
      y.data.insert(y.data.end(), x->data.begin() + n * per_example, x->data.begin() + (n + 1) * per_example);
    }
  return y;
}

namespace {

std::map<std::string, LayerReference>& registered_references() {
  static std::map<std::string, LayerReference> references;
  return references;
}

// One layer of a net on the references; `param(suffix)` is the layer's parameter or null.
Array layer_ref(const LayerParameter& l, const std::vector<const Array*>& in, const ParamOf& param) {
  const std::string& type = l.type();
  const Array& x = *in.at(0);
  if (type == "Conv" || type == "Conv1x1" || type == "Conv3x3") {
    const int default_pad = type == "Conv3x3" ? 1 : 0;
    return conv_ref(x, *param("weight"), param("bias"), l.conv().stride(),
                    l.conv().has_pad() ? l.conv().pad() : default_pad);
  }
  if (type == "FC") return fc_ref(x, *param("weight"), param("bias"));
  auto map = [&](auto f) {
    Array y = x;
    for (double& v : y.data) v = f(v);
    return y;
  };
  if (type == "ReLU") return map([](double v) { return std::max(v, 0.0); });
  if (type == "LeakyReLU") {
    const double slope = l.leaky_relu().negative_slope();
    return map([&](double v) { return v > 0 ? v : slope * v; });
  }
  if (type == "ELU") {
    const double alpha = l.elu().alpha();
    return map([&](double v) { return v > 0 ? v : alpha * std::expm1(v); });
  }
  if (type == "Sigmoid") return map([](double v) { return 1 / (1 + std::exp(-v)); });
  if (type == "Tanh") return map([](double v) { return std::tanh(v); });
  if (type == "SiLU") return map([](double v) { return v / (1 + std::exp(-v)); });
  if (type == "PReLU") return prelu_ref(x, *param("slope"));
  if (type == "BatchNorm")  // evaluation: the running statistics
    return batch_norm_ref(x, *param("scale"), *param("shift"), param("running_mean"), param("running_var"),
                          l.batch_norm().epsilon());
  if (type == "Softmax") return softmax_ref(x);
  if (type == "LRN") return lrn_ref(x, l.lrn().local_size(), l.lrn().alpha(), l.lrn().beta(), l.lrn().k());
  if (type == "Add") {
    Array y = x;
    for (size_t k = 1; k < in.size(); ++k)
      for (size_t i = 0; i < y.data.size(); ++i) y.data[i] += in[k]->data[i];
    return y;
  }
  if (type == "MaxPool" || type == "AvgPool") {
    const auto& p = l.pool();
    const PoolKind kind = type == "MaxPool"         ? PoolKind::kMax
                          : p.count_include_pad() ? PoolKind::kAvgIncludePad
                                                  : PoolKind::kAvgExcludePad;
    const int stride = p.has_stride() ? p.stride() : p.kernel_size();
    return pool_ref(x, kind, p.kernel_size(), p.kernel_size(), stride, stride, p.pad());
  }
  if (type == "GlobalAvgPool") {
    const int h = static_cast<int>(x.shape[2]), w = static_cast<int>(x.shape[3]);
    return pool_ref(x, PoolKind::kAvgExcludePad, h, w, h, w, 0);
  }
  if (type == "Dropout") return x;  // evaluation mode
  if (type == "Flatten") return {{x.shape[0], count(x.shape) / x.shape[0]}, x.data};
  if (type == "Concat") return concat_ref(in);
  if (const auto it = registered_references().find(type); it != registered_references().end()) return it->second(l, in, param);
  fail("ReferenceNet: no reference for layer '{}' of type '{}' (a plugin's type: give it one with register_reference())",
       l.name(), type);
}

}  // namespace

void register_reference(const std::string& type, LayerReference reference) {
  registered_references()[type] = std::move(reference);
}

ReferenceNet::ReferenceNet(onebyone::NetParameter net) : net_(std::move(net)) {}

std::map<std::string, Array> ReferenceNet::forward(std::map<std::string, Array> blobs,
                                                   const std::map<std::string, Array>& params) const {
  // Layers run once all their inputs exist, whatever the file's order.
  std::vector<bool> done(net_.layer_size());
  for (bool progress = true; progress;) {
    progress = false;
    for (int i = 0; i < net_.layer_size(); ++i) {
      const LayerParameter& l = net_.layer(i);
      if (done[i]) continue;
      if (l.type() == "Input") {
        done[i] = progress = true;
        continue;
      }
      std::vector<const Array*> in;
      for (const std::string& name : l.input())
        if (blobs.count(name)) in.push_back(&blobs.at(name));
      if (in.size() != static_cast<size_t>(l.input_size())) continue;
      const ParamOf param = [&](const std::string& suffix) -> const Array* {
        const auto it = params.find(l.name() + "." + suffix);
        return it == params.end() ? nullptr : &it->second;
      };
      blobs[l.output(0)] = layer_ref(l, in, param);
      done[i] = progress = true;
    }
  }
  for (int i = 0; i < net_.layer_size(); ++i)
    if (!done[i]) fail("ReferenceNet: layer '{}' never got its inputs", net_.layer(i).name());
  return blobs;
}

}  // namespace obo::test
