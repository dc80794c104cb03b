// The oneDNN seam: the engine and stream, layouts of tensors, arguments that reorder only when
// a primitive wants another layout than the tensor holds, and the constructors of primitive
// descriptors. Layers build descriptors and primitives here once per input shape (reshape) and
// at run time only bind data handles and execute. dnnl_seam.cc is the one file that knows
// oneDNN's version: the op-descriptor API used below is 2.x's (3.x removed it).
#pragma once

#include <dnnl.hpp>

#include <initializer_list>
#include <optional>
#include <utility>
#include <vector>

#include "framework/post_op.h"
#include "framework/quantized.h"
#include "framework/tensor.h"

namespace obo {

namespace dnn {

using dnnl::memory;

// A primitive's arguments, built once at reshape and passed to every execution as the C array
// oneDNN takes: the C++ API's execute(stream, unordered_map) allocates on every call.
class Args {
 public:
  Args() = default;
  Args(std::initializer_list<std::pair<int, memory>> args);
  void set(int arg, const memory& m);  // adds or replaces
  int size() const { return static_cast<int>(c_.size()); }
  const dnnl_exec_arg_t* data() const { return c_.data(); }

 private:
  std::vector<memory> memories_;  // keeps the handles in c_ alive
  std::vector<dnnl_exec_arg_t> c_;
};

// The CPU engine. Creating it also sets flush-to-zero and denormals-are-zero on every OpenMP
// thread (backend::use_threads does again for a new thread count).
dnnl::engine& engine();
dnnl::stream& stream();

memory::dims dims(const Shape& shape);
// f32, row-major over the shape: NCHW for 4-D, NC for 2-D.
memory::desc plain_desc(const Shape& shape);
// f32 with the layout left to the primitive (format_tag::any).
memory::desc any_desc(const Shape& shape);
memory::desc desc_of(const Tensor& t);  // the layout a tensor records, or its plain one
// int8 inference: the data type that stores q (u8 or s8; f32 for nullopt), and md with it.
memory::data_type data_type(const std::optional<Quantized>& q);
memory::desc retyped(memory::desc md, memory::data_type type);
// int8 without VNNI. oneDNN's int8 kernels then multiply u8 by s8 with vpmaddubsw, which adds
// pairs of products in 16 bits and saturates past 32767 (2 x 255 x 127 = 64770; an s8 input is
// read as u8 plus 128). There, u8 activations keep to 0..127 (2 x 127 x 127 = 32258, as
// PyTorch's reduce_range), and weights read with an s8 input to [-63, 63] (2 x 255 x 63 = 32130)
// unless their layout says that oneDNN halves them itself (its scale adjustment, for convolutions).
// These give the largest q of u8 activations, and of weights in this layout (a primitive's).
int int8_unsigned_limit();
int int8_weight_limit(const memory::desc& weights, bool unsigned_input);
// What one step of a tensor's stored values is worth: its layout's scale (1 for float tensors).
float scale_of(const Tensor& t);
// A memory object with no buffer yet: set_data_handle() binds one at run time.
memory unbound(const memory::desc& md);
// The layout a tensor records for md: null when md is plain f32, so plain tensors compare equal.
// Its conversions to and from plain build their reorders once, on first use. An int8 md stores
// values at `scale` (Layout::scale).
LayoutPtr layout_of(const memory::desc& md, float scale = 1);

// One primitive argument fed from (or written to) a tensor. init() is called at reshape with the
// tensor's layout and the layout the primitive chose (and, in int8 inference, what one step of
// each is worth); when they differ it owns a buffer in the primitive's layout and the reorders
// between the two, which quantize, dequantize or rescale as the scales say. mem() is what goes
// into the primitive's argument map and never changes after init().
class Arg {
 public:
  void init(const memory::desc& tensor_md, const memory::desc& primitive_md, float tensor_scale = 1,
            float primitive_scale = 1);
  const memory& mem() const { return primitive_; }

  void read(const Tensor& t);  // input: binds t, converting it into mem() if needed
  void bind(Tensor& t);        // output: binds t so the primitive writes it directly...
  void write(Tensor& t);       // ...or, after execution, converts mem() into t

 private:
  memory user_, primitive_;
  dnnl::reorder to_primitive_, to_user_;
  Args to_primitive_args_, to_user_args_;
  bool converts_ = false;
};

void execute(const dnnl::primitive& p, const Args& args);

// The forward and backward primitive of a one-input layer whose tensors all keep the input's
// layout (element-wise functions, softmax, LRN), with their arguments, built once at reshape.
// Forward reads x and writes y; backward reads dy and, as `backward_reads` says, x
// (DNNL_ARG_SRC) or y (DNNL_ARG_DST), and writes dx. A workspace, when the forward descriptor
// has one, goes to both. What backward reads is said once, at construction: the layer's
// backward_reads_input and backward_reads_output answer with reads_input() and reads_output().
class SameLayoutOps {
 public:
  explicit SameLayoutOps(int backward_reads) : reads_(backward_reads) {}
  void init(const dnnl::primitive_desc_base& forward, const dnnl::primitive_desc_base& backward);
  bool reads_input() const { return reads_ == DNNL_ARG_SRC; }
  bool reads_output() const { return reads_ == DNNL_ARG_DST; }
  void forward(const Tensor& x, Tensor& y);
  void backward(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor& dx);

 private:
  int reads_;
  memory x_, y_, dy_, dx_, workspace_;
  dnnl::primitive forward_, backward_;
  Args forward_args_, backward_args_;
};

// Every primitive is created through these, so a test can count them: a steady-state
// training step creates none.
int64_t primitives_created();
dnnl::primitive create(const dnnl::primitive_desc_base& pd);
// A reorder writes `to` = from * scale (rounded and saturated where `to` is int8).
dnnl::reorder create_reorder(const memory& from, const memory& to, float scale = 1);
dnnl::reorder create_reorder(const memory& from, const memory& to, const dnnl::primitive_attr& attr);
Args reorder_args(const memory& from, const memory& to);

// --- Primitive descriptors (the version seam) ---------------------------------------------
// A zero memory::desc() for bias means "no bias". `training` selects forward_training, which
// keeps what the backward pass needs (max-pool workspace); else forward_inference (but a float
// convolution's kernels are forward_training's either way: see conv_forward).
struct Window {
  memory::dims kernel, strides, pad_l, pad_r;
};

// A convolution's algorithm. kWinograd, in training, lets oneDNN choose Winograd where it has a
// kernel for the shape (3x3, stride 1), which pays from about 16 channels in and out; an
// inference convolution runs Winograd wherever oneDNN has a kernel for the machine (AVX-512) and
// is direct elsewhere (where layers/conv.cc runs layers/winograd.h's instead).
enum class ConvAlgorithm { kDirect, kWinograd };

dnnl::convolution_forward::primitive_desc conv_forward(
    ConvAlgorithm alg, const memory::desc& src, const memory::desc& weights, const memory::desc& bias,
    const memory::desc& dst, const Window& w, bool training, const dnnl::primitive_attr& attr = {});
dnnl::convolution_backward_data::primitive_desc conv_backward_data(
    ConvAlgorithm alg, const memory::desc& diff_src, const memory::desc& weights, const memory::desc& diff_dst,
    const Window& w, const dnnl::convolution_forward::primitive_desc& hint);
dnnl::convolution_backward_weights::primitive_desc conv_backward_weights(
    ConvAlgorithm alg, const memory::desc& src, const memory::desc& diff_weights, const memory::desc& diff_bias,
    const memory::desc& diff_dst, const Window& w,
    const dnnl::convolution_forward::primitive_desc& hint);

// Whether a convolution's forward primitive runs Winograd (asked for, and there is a kernel).
bool runs_winograd(const dnnl::convolution_forward::primitive_desc& pd);

// A batched matrix product: dst[b] = src[b] . weights[b].
dnnl::matmul::primitive_desc matmul(const memory::desc& src, const memory::desc& weights, const memory::desc& dst);

dnnl::pooling_forward::primitive_desc pooling_forward(
    dnnl::algorithm alg, const memory::desc& src, const memory::desc& dst, const Window& w, bool training);
dnnl::pooling_backward::primitive_desc pooling_backward(
    dnnl::algorithm alg, const memory::desc& diff_src, const memory::desc& diff_dst,
    const Window& w, const dnnl::pooling_forward::primitive_desc& hint);

// Element-wise functions (framework/post_op.h). `from_output`: the backward pass computes
// f'(x) from the output y instead of from x, so it needs only y (and may run in place); only
// some functions allow it (derivative_from_output), and only those can be fused as post-ops.
bool derivative_from_output(const PostOp& f);
dnnl::eltwise_forward::primitive_desc eltwise_forward(const PostOp& f, const memory::desc& data, bool from_output);
dnnl::eltwise_backward::primitive_desc eltwise_backward(const PostOp& f, const memory::desc& diff_data,
                                                        const memory::desc& data, bool from_output,
                                                        const dnnl::eltwise_forward::primitive_desc& hint);
// A forward primitive's attributes: where add_to_output, it adds its result to what its output
// holds (oneDNN's sum post-op); then it applies a fused post-op f, where there is one.
dnnl::primitive_attr post_op_attr(const std::optional<PostOp>& f, bool add_to_output = false);

dnnl::inner_product_forward::primitive_desc inner_product_forward(
    const memory::desc& src, const memory::desc& weights, const memory::desc& bias,
    const memory::desc& dst, bool training, const dnnl::primitive_attr& attr = {});
dnnl::inner_product_backward_data::primitive_desc inner_product_backward_data(
    const memory::desc& diff_src, const memory::desc& weights, const memory::desc& diff_dst,
    const dnnl::inner_product_forward::primitive_desc& hint);
dnnl::inner_product_backward_weights::primitive_desc inner_product_backward_weights(
    const memory::desc& src, const memory::desc& diff_weights, const memory::desc& diff_bias,
    const memory::desc& diff_dst, const dnnl::inner_product_forward::primitive_desc& hint);

dnnl::logsoftmax_forward::primitive_desc logsoftmax_forward(const memory::desc& data, int axis);
dnnl::softmax_forward::primitive_desc softmax_forward(const memory::desc& data, int axis);
dnnl::softmax_backward::primitive_desc softmax_backward(const memory::desc& diff, const memory::desc& data, int axis,
                                                        const dnnl::softmax_forward::primitive_desc& hint);

// Batch normalisation with a learned scale and shift. `batch_statistics`: normalise by the
// batch's own statistics (and write them); otherwise by the given (running) mean and variance,
// which the backward pass then treats as constants.
dnnl::batch_normalization_forward::primitive_desc batch_norm_forward(const memory::desc& data, float epsilon,
                                                                     bool batch_statistics);
dnnl::batch_normalization_backward::primitive_desc batch_norm_backward(
    const memory::desc& diff, const memory::desc& data, float epsilon, bool batch_statistics,
    const dnnl::batch_normalization_forward::primitive_desc& hint);

// PReLU: x > 0 ? x : slope[c] * x, with a learned slope per channel (weights of shape (1,C,1,1)).
dnnl::prelu_forward::primitive_desc prelu_forward(const memory::desc& data, const memory::desc& slope);
dnnl::prelu_backward::primitive_desc prelu_backward(const memory::desc& data, const memory::desc& slope,
                                                    const memory::desc& diff, const memory::desc& diff_slope,
                                                    const dnnl::prelu_forward::primitive_desc& hint);

// Local response normalisation across channels (Krizhevsky et al.; Caffe's and oneDNN's form:
// x / (k + alpha / size * sum of x^2 over `size` neighbouring channels)^beta).
struct LrnWindow {
  int64_t size;
  float alpha, beta, k;
};
dnnl::lrn_forward::primitive_desc lrn_forward(const memory::desc& data, const LrnWindow& w);
dnnl::lrn_backward::primitive_desc lrn_backward(const memory::desc& diff, const memory::desc& data, const LrnWindow& w,
                                                const dnnl::lrn_forward::primitive_desc& hint);

// The element-wise sum of same-shaped inputs in any layouts, into `dst` (format any: oneDNN's choice).
dnnl::sum::primitive_desc sum(const memory::desc& dst, const std::vector<memory::desc>& srcs);

// The layout of a channel concatenation of `srcs` into shape y: their common channel-blocked
// layout (nChw8c, nChw16c) when every input holds it with whole blocks of channels, so that each
// lands in its slice by a straight copy; else NHWC, in which any channel offset is a slice.
memory::desc concat_desc(const std::vector<memory::desc>& srcs, const Shape& y);

}  // namespace dnn
}  // namespace obo
