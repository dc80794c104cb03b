// FC: a fully connected (inner product) layer on oneDNN. It reads all of C,H,W of a 4-D input
// directly, so no Flatten is needed in front of it; its weight is stored as (num_output, C*H*W).
//   (N,C,H,W) or (N,C) -> (N,num_output)
#include "framework/dnnl_seam.h"
#include "framework/registry.h"

namespace obo {
namespace {

class FcLayer : public Layer {
 public:
  explicit FcLayer(const LayerParameter& p) : Layer(p) {
    expect_arity(1, 1, 1);
    if (p.fc().num_output() <= 0) error("fc.num_output must be positive, got {}", p.fc().num_output());
  }

  void setup(const Ports& in, const Ports&) override {
    const Tensor& x = *in[0].value;
    if (x.rank() != 2 && x.rank() != 4) error("needs an (N,C) or (N,C,H,W) input, got {}", to_string(x.shape()));
    inputs_ = x.count() / x.dim(0);
    const auto& fc = config().fc();
    add_param("weight", {fc.num_output(), inputs_},
              fc.has_weight_filler() ? fc.weight_filler() : onebyone::FillerParameter());
    if (fc.bias_term()) {
      onebyone::FillerParameter zero;
      zero.set_type(onebyone::FillerParameter::CONSTANT);
      add_param("bias", {fc.num_output()}, fc.has_bias_filler() ? fc.bias_filler() : zero);
    }
  }

  void reshape(const Ports& in, const Ports& out) override {
    const Tensor& x = *in[0].value;
    if (x.count() / x.dim(0) != inputs_)
      error("expected {} features per example, got input {}", inputs_, to_string(x.shape()));
    const int64_t n_out = config().fc().num_output();
    const Shape y_shape{x.dim(0), n_out};
    // The weight as oneDNN sees it: (O,C,H,W) over the same plain (O, C*H*W) buffer.
    Shape w_shape = x.shape();
    w_shape[0] = n_out;
    const auto w_md = dnn::plain_desc(w_shape);
    const bool bias = params().size() > 1;
    const auto bias_md = bias ? dnn::plain_desc(params()[1].shape) : dnn::memory::desc();
    auto fwd = dnn::inner_product_forward(dnn::any_desc(x.shape()), dnn::any_desc(w_shape), bias_md,
                                          dnn::plain_desc(y_shape));
    out[0].value->reshape(y_shape);
    auto bwd_data = dnn::inner_product_backward_data(dnn::any_desc(x.shape()), dnn::any_desc(w_shape),
                                                     dnn::plain_desc(y_shape), fwd);
    auto bwd_w = dnn::inner_product_backward_weights(dnn::any_desc(x.shape()), dnn::any_desc(w_shape),
                                                     bias_md, dnn::plain_desc(y_shape), fwd);
    const auto x_md = dnn::desc_of(x);
    const auto y_md = dnn::plain_desc(y_shape);
    src_.init(x_md, fwd.src_desc());
    weights_.init(w_md, fwd.weights_desc());
    bias_.init(bias_md, bias_md);
    dst_.init(y_md, y_md);
    bd_weights_.init(w_md, bwd_data.weights_desc());
    bd_diff_src_.init(x_md, bwd_data.diff_src_desc());
    bw_src_.init(x_md, bwd_w.src_desc());
    bw_diff_weights_.init(w_md, bwd_w.diff_weights_desc());
    diff_dst_.init(y_md, y_md);
    bw_diff_bias_.init(bias_md, bias_md);
    forward_ = dnn::create<dnnl::inner_product_forward>(fwd);
    backward_data_ = dnn::create<dnnl::inner_product_backward_data>(bwd_data);
    backward_weights_ = dnn::create<dnnl::inner_product_backward_weights>(bwd_w);
    fwd_args_ = {{DNNL_ARG_SRC, src_.mem()}, {DNNL_ARG_WEIGHTS, weights_.mem()}, {DNNL_ARG_DST, dst_.mem()}};
    bd_args_ = {{DNNL_ARG_DIFF_DST, diff_dst_.mem()}, {DNNL_ARG_WEIGHTS, bd_weights_.mem()},
                {DNNL_ARG_DIFF_SRC, bd_diff_src_.mem()}};
    bw_args_ = {{DNNL_ARG_SRC, bw_src_.mem()}, {DNNL_ARG_DIFF_DST, diff_dst_.mem()},
                {DNNL_ARG_DIFF_WEIGHTS, bw_diff_weights_.mem()}};
    if (bias) {
      fwd_args_.set(DNNL_ARG_BIAS, bias_.mem());
      bw_args_.set(DNNL_ARG_DIFF_BIAS, bw_diff_bias_.mem());
    }
  }

  void forward(const Ports& in, const Ports& out, const Context&) override {
    src_.read(*in[0].value);
    weights_.read(params()[0].value);
    if (params().size() > 1) bias_.read(params()[1].value);
    dst_.bind(*out[0].value);
    dnn::execute(forward_, fwd_args_);
  }

  void backward(const Ports& in, const Ports& out) override {
    diff_dst_.read(*out[0].grad);
    if (in[0].grad) {
      bd_weights_.read(params()[0].value);
      bd_diff_src_.bind(*in[0].grad);
      dnn::execute(backward_data_, bd_args_);
      bd_diff_src_.write(*in[0].grad);
    }
    bw_src_.read(*in[0].value);
    bw_diff_weights_.bind(params()[0].grad);
    if (params().size() > 1) bw_diff_bias_.bind(params()[1].grad);
    dnn::execute(backward_weights_, bw_args_);
    bw_diff_weights_.write(params()[0].grad);
  }

  int64_t multiply_adds(const Ports&, const Ports& out) const override {
    return out[0].value->count() * inputs_;
  }

 private:
  int64_t inputs_ = 0;  // C*H*W
  dnn::Arg src_, weights_, bias_, dst_, diff_dst_;
  dnn::Arg bd_weights_, bd_diff_src_, bw_src_, bw_diff_weights_, bw_diff_bias_;
  dnnl::inner_product_forward forward_;
  dnnl::inner_product_backward_data backward_data_;
  dnnl::inner_product_backward_weights backward_weights_;
  dnn::Args fwd_args_, bd_args_, bw_args_;
};

}  // namespace

REGISTER_LAYER("FC", FcLayer);

}  // namespace obo
