// Winograd F(2x2, 3x3) (Lavin & Gray, 2016) for the 3x3, stride-1, pad-1 convolutions of an
// inference graph where oneDNN 2.6 has no Winograd kernel: below AVX-512. The input, weight and
// output transforms are OpenMP loops over 8-channel blocks (nChw8c); the 16 products of the
// Winograd domain are one batched oneDNN matmul, (tiles x C) . (C x K), 2.25 times fewer
// multiply-adds than the direct convolution. bench/winograd.cc measured it against oneDNN's
// direct kernel held to AVX2: faster on NIN's 64- and 128-channel layers, slower on 16 and 32
// channels, where the transforms cost more than the products save.
//
//   WinogradConv w;
//   if (WinogradConv::fits(x.shape(), outputs)) w.init(dnn::desc_of(x), outputs, post_op);
//   y.reshape(w.output_shape(), w.output_layout());
//   w.forward(x, weight, bias_or_null, y);   // weight (K,C,3,3) plain, bias (K)
#pragma once

#include <optional>
#include <vector>

#include "framework/dnnl_seam.h"

namespace obo {

class WinogradConv {
 public:
  // Whether an (N,C,H,W) input and K outputs fit: C and K whole 8-channel blocks.
  static bool fits(const Shape& x, int64_t outputs);

  // x_md: the input's layout (converted to nChw8c when it is another); post_op: a function
  // applied to the output, as a convolution's fused post-op would be.
  void init(const dnn::memory::desc& x_md, int64_t outputs, const std::optional<PostOp>& post_op);
  Shape output_shape() const { return {n_, k_, h_, w_}; }
  LayoutPtr output_layout() const { return dnn::layout_of(y_md_); }

  void forward(const Tensor& x, const Tensor& weight, const Tensor* bias, Tensor& y);
  // The weights transformed once (Layer::freeze): forward() then ignores `weight` until init().
  void freeze(const Tensor& weight);

 private:
  void transform_weights(const float* w);
  void transform_input(const float* x, int64_t first_image, int64_t images);
  void transform_output(float* y, const float* bias, int64_t first_image, int64_t images);

  int64_t n_ = 0, c_ = 0, k_ = 0, h_ = 0, w_ = 0, tiles_h_ = 0, tiles_w_ = 0;
  int64_t chunk_ = 0;  // images one pass of the three steps takes: bounds V and M
  bool frozen_ = false;
  dnn::memory::desc y_md_;
  dnn::Arg src_;                      // the input in nChw8c
  std::vector<float> u_, v_, m_;      // the weights, the input and the output in the Winograd domain
  struct Product {                    // the batched matmul of `chunk_` images, and of the rest
    dnnl::primitive primitive;
    dnn::Args args;
  };
  Product full_;
  std::optional<Product> tail_;
  dnnl::primitive post_op_;
  dnn::memory post_op_data_;
  dnn::Args post_op_args_;
};

}  // namespace obo
