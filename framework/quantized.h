// How a blob is stored in int8 inference (framework/quantize.h): one byte per element, q, whose
// value is scale * q; u8 (0..255) where the blob is never negative, else s8 (-127..127).
#pragma once

namespace obo {

struct Quantized {
  float scale = 1;
  bool is_unsigned = false;
};

// The least and the greatest value a blob took over the calibration images.
struct Range {
  float min = 0, max = 0;
};

// The least range that holds both.
inline Range covering(const Range& a, const Range& b) {
  return {a.min < b.min ? a.min : b.min, a.max > b.max ? a.max : b.max};
}

// The symmetric quantization that covers a range: scale = max |value| / unsigned_limit (u8, for a
// range that is never negative; 255, or 127 where the CPU's kernels need a spare bit:
// dnn::int8_unsigned_limit) or / 127 (s8). A range of zeros gets scale 1.
inline Quantized quantized(const Range& r, int unsigned_limit = 255) {
  const float largest = r.max > -r.min ? r.max : -r.min;
  const bool is_unsigned = r.min >= 0;
  return {largest > 0 ? largest / static_cast<float>(is_unsigned ? unsigned_limit : 127) : 1.f, is_unsigned};
}

}  // namespace obo
