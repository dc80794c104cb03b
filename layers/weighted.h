// What Conv and FC share: a forward, a backward-to-input and a backward-to-weights primitive over
// (input, weight, optional bias, output), each argument converted only where its primitive chose
// another layout than the tensor holds. The layer's parameters are plain: weight, then bias.
#pragma once

#include <functional>
#include <optional>
#include <vector>

#include "framework/dnnl_seam.h"
#include "framework/layer.h"

namespace obo {

class WeightedOps {
 public:
  // x_md, y_md: the input's and output's layouts; w_md: the plain weight as the primitives see
  // it (or a block of its columns: a convolution of one part of a concatenation); bias_md: a
  // zero desc when there is no bias. Called at reshape: init_forward() always,
  // init_backward() unless the layer is for inference only.
  void init_forward(const dnn::memory::desc& x_md, const dnn::memory::desc& y_md, const dnn::memory::desc& w_md,
                    const dnn::memory::desc& bias_md, const dnnl::primitive_desc_base& fwd) {
    has_bias_ = !bias_md.is_zero();
    src_.init(x_md, fwd.src_desc(0));
    weights_.init(w_md, fwd.weights_desc(0));
    bias_.init(bias_md, bias_md);
    dst_.init(y_md, fwd.dst_desc(0));
    forward_ = dnn::create(fwd);
    fwd_args_ = {{DNNL_ARG_SRC, src_.mem()}, {DNNL_ARG_WEIGHTS, weights_.mem()}, {DNNL_ARG_DST, dst_.mem()}};
    if (has_bias_) fwd_args_.set(DNNL_ARG_BIAS, bias_.mem());
    frozen_ = false;
  }

  // The parameters, read once into the forward primitive's layout (Layer::freeze): forward()
  // then reads them no more, until init_forward() is called again.
  void freeze(const std::vector<Param>& params) {
    read_params(params);
    frozen_ = true;
  }

  void init_backward(const dnn::memory::desc& x_md, const dnn::memory::desc& y_md, const dnn::memory::desc& w_md,
                     const dnn::memory::desc& bias_md, const dnnl::primitive_desc_base& bwd_data,
                     const dnnl::primitive_desc_base& bwd_weights) {
    bd_diff_dst_.init(y_md, bwd_data.diff_dst_desc(0));
    bd_weights_.init(w_md, bwd_data.weights_desc(0));
    bd_diff_src_.init(x_md, bwd_data.diff_src_desc(0));
    backward_data_ = dnn::create(bwd_data);
    bd_args_ = {{DNNL_ARG_DIFF_DST, bd_diff_dst_.mem()}, {DNNL_ARG_WEIGHTS, bd_weights_.mem()},
                {DNNL_ARG_DIFF_SRC, bd_diff_src_.mem()}};

    bw_src_.init(x_md, bwd_weights.src_desc(0));
    bw_diff_dst_.init(y_md, bwd_weights.diff_dst_desc(0));
    bw_diff_weights_.init(w_md, bwd_weights.diff_weights_desc(0));
    bw_diff_bias_.init(bias_md, bias_md);
    backward_weights_ = dnn::create(bwd_weights);
    bw_args_ = {{DNNL_ARG_SRC, bw_src_.mem()}, {DNNL_ARG_DIFF_DST, bw_diff_dst_.mem()},
                {DNNL_ARG_DIFF_WEIGHTS, bw_diff_weights_.mem()}};
    if (!bias_md.is_zero()) bw_args_.set(DNNL_ARG_DIFF_BIAS, bw_diff_bias_.mem());
  }

  void forward(const Tensor& x, const std::vector<Param>& params, Tensor& y) {
    src_.read(x);
    if (!frozen_) read_params(params);
    dst_.bind(y);
    dnn::execute(forward_, fwd_args_);
    dst_.write(y);
  }

  // Assigns dx (when non-null) and the parameters' gradients from dy.
  void backward(const Tensor& x, const Tensor& dy, Tensor* dx, std::vector<Param>& params) {
    if (dx) {
      bd_diff_dst_.read(dy);
      bd_weights_.read(params[0].value);
      bd_diff_src_.bind(*dx);
      dnn::execute(backward_data_, bd_args_);
      bd_diff_src_.write(*dx);
    }
    bw_src_.read(x);
    bw_diff_dst_.read(dy);
    bw_diff_weights_.bind(params[0].grad);
    if (has_bias_) bw_diff_bias_.bind(params[1].grad);
    dnn::execute(backward_weights_, bw_args_);
    bw_diff_weights_.write(params[0].grad);
  }

 private:
  void read_params(const std::vector<Param>& params) {
    weights_.read(params[0].value);
    if (has_bias_) bias_.read(params[1].value);
  }

  bool frozen_ = false;
  bool has_bias_ = false;  // whether the forward primitive adds params[1]
  dnn::Arg src_, weights_, bias_, dst_;
  dnn::Arg bd_diff_dst_, bd_weights_, bd_diff_src_;
  dnn::Arg bw_src_, bw_diff_dst_, bw_diff_weights_, bw_diff_bias_;
  dnnl::primitive forward_, backward_data_, backward_weights_;
  dnn::Args fwd_args_, bd_args_, bw_args_;
};

// The int8 forward of Conv and FC (inference; framework/quantize.h): the input read as the plan
// says (quantized by a reorder where its tensor is float), s8 weights quantized per output
// channel, the output written int8 or float at the plan's scale. For output channel o:
//   y[o] = (x_scale * w_scale[o] / y_scale) * (sum of q_x * q_w  +  bias[o] / (x_scale * w_scale[o]))
// oneDNN 2.x adds the bias to the accumulator before its output scale, hence the bias's division.
class Int8Forward {
 public:
  // A forward primitive descriptor of the layer's kind, for these descriptors and attributes.
  using Make = std::function<dnnl::primitive_desc_base(const dnn::memory::desc& src, const dnn::memory::desc& weights,
                                                       const dnn::memory::desc& bias, const dnn::memory::desc& dst,
                                                       const dnnl::primitive_attr& attr)>;

  // At reshape: chooses the layouts (returns the output's, at its scale); nothing runs until
  // freeze() has read the weights, whose scales the primitive is built with.
  LayoutPtr init(Make make, const Int8Plan& plan, const Tensor& x, const Shape& w_shape, const Shape& y_shape,
                 bool bias, const std::optional<PostOp>& post_op) {
    make_ = std::move(make);
    x_scale_ = plan.in[0].scale;
    x_unsigned_ = plan.in[0].is_unsigned;
    y_scale_ = plan.out[0] ? plan.out[0]->scale : 1.f;
    post_op_ = post_op;
    outputs_ = w_shape[0];
    const auto typed = [](const Shape& s, dnn::memory::data_type t) {
      return dnn::memory::desc(dnn::dims(s), t, dnn::memory::format_tag::any);
    };
    bias_md_ = bias ? dnn::plain_desc({outputs_}) : dnn::memory::desc();
    const dnnl::primitive_desc_base pd =
        make_(typed(x.shape(), dnn::data_type(plan.in[0])), typed(w_shape, dnn::memory::data_type::s8), bias_md_,
              typed(y_shape, dnn::data_type(plan.out[0])), attr(std::vector<float>(outputs_, 1.f)));
    src_md_ = pd.src_desc(0);
    w_md_ = pd.weights_desc(0);
    dst_md_ = pd.dst_desc(0);
    src_.init(dnn::desc_of(x), src_md_, dnn::scale_of(x), x_scale_);
    w_plain_md_ = dnn::plain_desc(w_shape);
    forward_ = dnnl::primitive();
    return dnn::layout_of(dst_md_, y_scale_);
  }

  // Quantizes the weights (row o by w_scale[o] = max |w[o]| / 127, or / 63 where the CPU's
  // kernels would saturate: dnn::int8_weight_limit) and scales the bias, and builds the primitive
  // with the output scales they give.
  void freeze(const std::vector<Param>& params) {
    const Tensor& w = params[0].value;
    const int64_t per_row = w.count() / outputs_;
    const float limit = static_cast<float>(dnn::int8_weight_limit(w_md_, x_unsigned_));
    std::vector<float> w_scale(outputs_), inverse(outputs_), output_scale(outputs_);
    for (int64_t o = 0; o < outputs_; ++o) {
      float largest = 0;
      for (int64_t i = 0; i < per_row; ++i) largest = std::max(largest, std::abs(w.data()[o * per_row + i]));
      w_scale[o] = largest > 0 ? largest / limit : 1.f;
      inverse[o] = 1 / w_scale[o];
      output_scale[o] = x_scale_ * w_scale[o] / y_scale_;
    }
    forward_ = dnn::create(make_(src_md_, w_md_, bias_md_, dst_md_, attr(output_scale)));

    weights_ = dnn::memory(w_md_, dnn::engine());
    const dnn::memory plain(w_plain_md_, dnn::engine(), const_cast<float*>(w.data()));
    dnnl::primitive_attr per_row_scale;
    per_row_scale.set_output_scales(1, inverse);  // mask 1: dimension 0, the output channel
    dnn::execute(dnn::create_reorder(plain, weights_, per_row_scale), dnn::reorder_args(plain, weights_));
    dst_ = dnn::unbound(dst_md_);
    args_ = {{DNNL_ARG_SRC, src_.mem()}, {DNNL_ARG_WEIGHTS, weights_}, {DNNL_ARG_DST, dst_}};
    if (params.size() > 1) {
      bias_ = dnn::memory(bias_md_, dnn::engine());
      float* b = static_cast<float*>(bias_.get_data_handle());
      for (int64_t o = 0; o < outputs_; ++o) b[o] = params[1].value.data()[o] / (x_scale_ * w_scale[o]);
      args_.set(DNNL_ARG_BIAS, bias_);
    }
    dnn::stream().wait();
  }

  bool frozen() const { return static_cast<bool>(forward_); }

  void forward(const Tensor& x, Tensor& y) {
    src_.read(x);
    dst_.set_data_handle(y.data());
    dnn::execute(forward_, args_);
  }

 private:
  // Per-output-channel output scales (mask 2: dimension 1 of the output), then the post-op.
  dnnl::primitive_attr attr(const std::vector<float>& scales) const {
    dnnl::primitive_attr a = dnn::post_op_attr(post_op_);
    a.set_output_scales(2, scales);
    return a;
  }

  Make make_;
  float x_scale_ = 1, y_scale_ = 1;
  bool x_unsigned_ = false;
  std::optional<PostOp> post_op_;
  int64_t outputs_ = 0;
  dnn::memory::desc src_md_, w_md_, w_plain_md_, bias_md_, dst_md_;
  dnn::Arg src_;
  dnn::memory weights_, bias_, dst_;
  dnnl::primitive forward_;
  dnn::Args args_;
};

}  // namespace obo
