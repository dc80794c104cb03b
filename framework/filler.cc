#include "framework/filler.h"

#include <cmath>

#include "framework/error.h"
#include "framework/random.h"

namespace obo {

void fill(const onebyone::FillerParameter& filler, Tensor& param, uint64_t seed, uint64_t stream) {
  const Shape& s = param.shape();
  const int64_t n = param.count();
  const int64_t receptive = s.size() > 2 ? count(Shape(s.begin() + 2, s.end())) : 1;
  const double fan_in = s.size() > 1 ? static_cast<double>(s[1] * receptive) : 1.0;
  const double fan_out = static_cast<double>(s[0] * receptive);
  float* p = param.data();
  using F = onebyone::FillerParameter;
  switch (filler.type()) {
    case F::CONSTANT:
      for (int64_t i = 0; i < n; ++i) p[i] = filler.value();
      return;
    case F::HE: {
      const float std = static_cast<float>(std::sqrt(2.0 / fan_in));
      for (int64_t i = 0; i < n; ++i) p[i] = std * normal(seed, stream, i);
      return;
    }
    case F::XAVIER: {
      const float limit = static_cast<float>(std::sqrt(6.0 / (fan_in + fan_out)));
      for (int64_t i = 0; i < n; ++i) p[i] = limit * (2.f * uniform(seed, stream, i) - 1.f);
      return;
    }
    case F::GAUSSIAN:
      for (int64_t i = 0; i < n; ++i) p[i] = filler.std() * normal(seed, stream, i);
      return;
  }
  fail("unknown filler type {}", static_cast<int>(filler.type()));
}

onebyone::FillerParameter constant_filler(float value) {
  onebyone::FillerParameter f;
  f.set_type(onebyone::FillerParameter::CONSTANT);
  f.set_value(value);
  return f;
}

}  // namespace obo
