// ReLU on oneDNN's eltwise primitive; the output keeps the input's layout.
//   (any shape) -> (same shape)
#include "framework/dnnl_seam.h"
#include "framework/registry.h"

namespace obo {
namespace {

const PostOp kRelu{PostOp::Function::kRelu, 0.f, "ReLU"};

class ReluLayer : public Layer {
 public:
  explicit ReluLayer(const LayerParameter& p) : Layer(p) { expect_arity(1, 1, 1); }

  std::optional<PostOp> as_post_op() const override { return kRelu; }
  Shapes output_shapes(const Shapes& in) const override { return {in[0]}; }

  void reshape(const Ports& in, const Ports& out) override {
    const auto md = dnn::desc_of(*in[0].value);
    out[0].value->reshape(in[0].value->shape(), in[0].value->layout());
    auto fwd = dnn::eltwise_forward(kRelu, md, false);
    auto bwd = dnn::eltwise_backward(kRelu, md, md, false, fwd);
    src_.init(md, md);
    dst_.init(md, md);
    diff_dst_.init(md, md);
    diff_src_.init(md, md);
    forward_ = dnn::create(fwd);
    backward_ = dnn::create(bwd);
    fwd_args_ = {{DNNL_ARG_SRC, src_.mem()}, {DNNL_ARG_DST, dst_.mem()}};
    bwd_args_ = {{DNNL_ARG_SRC, src_.mem()}, {DNNL_ARG_DIFF_DST, diff_dst_.mem()},
                 {DNNL_ARG_DIFF_SRC, diff_src_.mem()}};
  }

  void forward(const Ports& in, const Ports& out, const Context&) override {
    src_.read(*in[0].value);
    dst_.bind(*out[0].value);
    dnn::execute(forward_, fwd_args_);
  }

  void backward(const Ports& in, const Ports& out) override {
    src_.read(*in[0].value);
    diff_dst_.read(*out[0].grad);
    diff_src_.bind(*in[0].grad);
    dnn::execute(backward_, bwd_args_);
  }

 private:
  dnn::Arg src_, dst_, diff_dst_, diff_src_;
  dnnl::primitive forward_;
  dnnl::primitive backward_;
  dnn::Args fwd_args_, bwd_args_;
};

}  // namespace

REGISTER_LAYER("ReLU", ReluLayer);

}  // namespace obo
