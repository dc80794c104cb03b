// Naive references in double precision: plain loops over plain NCHW tensors, written for
// obviousness, that the oneDNN layers are compared with.
#pragma once

#include <vector>

#include "framework/tensor.h"

namespace obo::test {

// x (N,C,H,W), w (O,C,K,K), b (O) or empty -> (N,O,Ho,Wo), zero padding.
std::vector<double> conv_ref(const Tensor& x, const Tensor& w, const Tensor* b, int stride, int pad,
                             Shape* out_shape);

enum class PoolKind { kMax, kAvgIncludePad, kAvgExcludePad };
// Output size rounds down; padded cells never win a max.
std::vector<double> pool_ref(const Tensor& x, PoolKind kind, int kernel_h, int kernel_w, int stride_h,
                             int stride_w, int pad, Shape* out_shape);

// x (N, F...) flattened to (N,F), w (O,F), b (O) or empty -> (N,O)
std::vector<double> fc_ref(const Tensor& x, const Tensor& w, const Tensor* b);

// mean over examples of -log softmax(scores)[label]; scores (N,K)
double softmax_cross_entropy_ref(const Tensor& scores, const Tensor& labels);

// Largest |a - b| / max(1, |b|) between a layer's plain output and a reference.
double max_relative_error(const Tensor& actual, const std::vector<double>& expected);

}  // namespace obo::test
