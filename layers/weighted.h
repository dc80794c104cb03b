// What Conv and FC share: a forward, a backward-to-input and a backward-to-weights primitive over
// (input, weight, optional bias, output), each argument converted only where its primitive chose
// another layout than the tensor holds. The layer's parameters are plain: weight, then bias.
#pragma once

#include <vector>

#include "framework/dnnl_seam.h"
#include "framework/layer.h"

namespace obo {

class WeightedOps {
 public:
  // x_md, y_md: the input's and output's layouts; w_md: the plain weight as the primitives see
  // it; bias_md: a zero desc when there is no bias. Called at reshape: init_forward() always,
  // init_backward() unless the layer is for inference only.
  void init_forward(const dnn::memory::desc& x_md, const dnn::memory::desc& y_md, const dnn::memory::desc& w_md,
                    const dnn::memory::desc& bias_md, const dnnl::primitive_desc_base& fwd) {
    const bool bias = !bias_md.is_zero();
    src_.init(x_md, fwd.src_desc(0));
    weights_.init(w_md, fwd.weights_desc(0));
    bias_.init(bias_md, bias_md);
    dst_.init(y_md, fwd.dst_desc(0));
    forward_ = dnn::create(fwd);
    fwd_args_ = {{DNNL_ARG_SRC, src_.mem()}, {DNNL_ARG_WEIGHTS, weights_.mem()}, {DNNL_ARG_DST, dst_.mem()}};
    if (bias) fwd_args_.set(DNNL_ARG_BIAS, bias_.mem());
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
    if (params.size() > 1) bw_diff_bias_.bind(params[1].grad);
    dnn::execute(backward_weights_, bw_args_);
    bw_diff_weights_.write(params[0].grad);
  }

 private:
  void read_params(const std::vector<Param>& params) {
    weights_.read(params[0].value);
    if (params.size() > 1) bias_.read(params[1].value);
  }

  bool frozen_ = false;
  dnn::Arg src_, weights_, bias_, dst_;
  dnn::Arg bd_diff_dst_, bd_weights_, bd_diff_src_;
  dnn::Arg bw_src_, bw_diff_dst_, bw_diff_weights_, bw_diff_bias_;
  dnnl::primitive forward_, backward_data_, backward_weights_;
  dnn::Args fwd_args_, bd_args_, bw_args_;
};

}  // namespace obo
