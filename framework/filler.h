// Parameter initialisers (He, Xavier, Gaussian, constant), seeded and thread-count independent.
#pragma once

#include <cstdint>

#include "framework/tensor.h"
#include "onebyone.pb.h"

namespace obo {

// Fills a plain parameter tensor of shape (out, in, kh, kw), (out, in) or (out). Fan-in is
// in*kh*kw, fan-out out*kh*kw; a 1-D (bias) tensor counts as fan-in 1.
void fill(const onebyone::FillerParameter& filler, Tensor& param, uint64_t seed, uint64_t stream);

// A CONSTANT filler: the default for biases.
onebyone::FillerParameter constant_filler(float value);

}  // namespace obo
