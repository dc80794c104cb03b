// Counter-based random numbers: the number at (seed, stream, index) is a pure function of the
// three, so a parallel loop over indices draws the same numbers whatever the thread count, and a
// resumed run draws what the uninterrupted run would have.
#pragma once

#include <cmath>
#include <cstdint>
#include <string_view>

namespace obo {

// SplitMix64's finaliser: a bijection that scatters nearby inputs.
inline uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

inline uint64_t random_bits(uint64_t seed, uint64_t stream, uint64_t index) {
  return mix64(mix64(seed ^ mix64(stream + 0x9e3779b97f4a7c15ULL)) + index);
}

// Uniform in [0, 1), 24 random bits.
inline float uniform(uint64_t seed, uint64_t stream, uint64_t index) {
  return static_cast<float>(random_bits(seed, stream, index) >> 40) * 0x1p-24f;
}

// Standard normal by Box-Muller over two counter draws.
inline float normal(uint64_t seed, uint64_t stream, uint64_t index) {
  const uint64_t bits = random_bits(seed, stream, index);
  const double u1 = (static_cast<double>(bits >> 40) + 1.0) * 0x1p-24;  // (0, 1]
  const double u2 = static_cast<double>((bits >> 16) & 0xffffff) * 0x1p-24;
  return static_cast<float>(std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
}

// A 32-bit integer hash (Wellons' "lowbias32") that vectorises, for per-element draws in hot
// loops: two rounds keyed by a 64-bit draw make a counter-based generator.
inline uint32_t hash32(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352dU;
  x ^= x >> 15;
  x *= 0x846ca68bU;
  x ^= x >> 16;
  return x;
}

// A stable stream id for a name (FNV-1a), so each layer draws its own numbers.
inline uint64_t stream_of(std::string_view name) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : name) h = (h ^ c) * 0x100000001b3ULL;
  return h;
}

}  // namespace obo
