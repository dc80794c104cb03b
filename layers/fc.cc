// FC: a fully connected (inner product) layer on oneDNN. It reads all of C,H,W of a 4-D input
// directly, so no Flatten is needed in front of it; its weight is stored as (num_output, C*H*W).
//   (N,C,H,W) or (N,C) -> (N,num_output)
#include "framework/dnnl_seam.h"
#include "framework/filler.h"
#include "framework/registry.h"
#include "layers/weighted.h"

namespace obo {
namespace {

class FcLayer : public Layer {
 public:
  explicit FcLayer(const LayerParameter& p) : Layer(p) {
    expect_arity(1, 1, 1);
    if (p.fc().num_output() <= 0) error("fc.num_output must be positive, got {}", p.fc().num_output());
  }

  void setup(const Shapes& in) override {
    const Shape& x = in[0];
    if (x.size() != 2 && x.size() != 4) error("needs an (N,C) or (N,C,H,W) input, got {}", to_string(x));
    inputs_ = count(x) / x[0];
    const auto& fc = config().fc();
    add_param("weight", {fc.num_output(), inputs_},
              fc.has_weight_filler() ? fc.weight_filler() : onebyone::FillerParameter());
    if (fc.bias_term())
      add_param("bias", {fc.num_output()}, fc.has_bias_filler() ? fc.bias_filler() : constant_filler(0));
  }

  Shapes output_shapes(const Shapes& in) const override {
    const Shape& x = in[0];
    if ((x.size() != 2 && x.size() != 4) || count(x) / x[0] != inputs_)
      error("expected {} features per example, got input {}", inputs_, to_string(x));
    return {{x[0], config().fc().num_output()}};
  }

  void reshape(const Ports& in, const Ports& out) override {
    const Tensor& x = *in[0].value;
    const int64_t n_out = config().fc().num_output();
    const Shape y_shape{x.dim(0), n_out};
    // The weight as oneDNN sees it: (O,C,H,W) over the same plain (O, C*H*W) buffer.
    Shape w_shape = x.shape();
    w_shape[0] = n_out;
    const auto w_md = dnn::plain_desc(w_shape);
    const bool bias = params().size() > 1;
    const auto bias_md = bias ? dnn::plain_desc(params()[1].shape) : dnn::memory::desc();
    if (int8()) {
      const auto make = [](const auto& src, const auto& weights, const auto& b, const auto& dst, const auto& attr) {
        return dnn::inner_product_forward(src, weights, b, dst, false, attr);
      };
      out[0].value->reshape(y_shape, int8_ops_.init(make, *int8(), x, w_shape, y_shape, bias, post_op()));
      return;
    }
    auto fwd = dnn::inner_product_forward(dnn::any_desc(x.shape()), dnn::any_desc(w_shape), bias_md,
                                          dnn::plain_desc(y_shape), !inference_only());
    out[0].value->reshape(y_shape);
    ops_.init_forward(dnn::desc_of(x), dnn::plain_desc(y_shape), w_md, bias_md, fwd);
    if (inference_only()) return;
    auto bwd_data = dnn::inner_product_backward_data(dnn::any_desc(x.shape()), dnn::any_desc(w_shape),
                                                     dnn::plain_desc(y_shape), fwd);
    auto bwd_w = dnn::inner_product_backward_weights(dnn::any_desc(x.shape()), dnn::any_desc(w_shape),
                                                     bias_md, dnn::plain_desc(y_shape), fwd);
    ops_.init_backward(dnn::desc_of(x), dnn::plain_desc(y_shape), w_md, bias_md, bwd_data, bwd_w);
  }

  void forward(const Ports& in, const Ports& out, const Context&) override {
    if (int8()) {
      if (!int8_ops_.frozen()) error("runs int8 only with frozen weights (Graph::freeze)");
      return int8_ops_.forward(*in[0].value, *out[0].value);
    }
    ops_.forward(*in[0].value, params(), *out[0].value);
  }
  void freeze() override {
    if (int8())
      int8_ops_.freeze(params());
    else
      ops_.freeze(params());
  }
  bool runs_int8() const override { return true; }
  bool computes_int8() const override { return int8().has_value(); }  // s32 sums of int8, whatever it writes

  void backward(const Ports& in, const Ports& out) override {
    ops_.backward(*in[0].value, *out[0].grad, in[0].grad, params());
  }
  bool backward_reads_output(size_t) const override { return false; }  // x and dy, as above

  std::optional<LayerParameter> with_bias() const override {
    LayerParameter p = config();
    p.mutable_fc()->set_bias_term(true);
    return p;
  }

  int64_t multiply_adds(const Ports&, const Ports& out) const override {
    return out[0].value->count() * inputs_;
  }

  // Flatten (C,H,W order, which the plain (O, C*H*W) weight follows) and Gemm with the weight
  // transposed, as PyTorch exports nn.Linear.
  bool to_onnx(OnnxGraph& onnx, const std::vector<OnnxValue>& in, const std::vector<OnnxValue>& out) const override {
    std::string x = in[0].name;
    if (in[0].shape.size() != 2) {
      x = onnx.temporary(in[0].name + "/flat");
      onnx.node("Flatten", {in[0].name}, {x}, {{"axis", int64_t{1}}});
    }
    std::vector<std::string> inputs{x};
    for (const Param& p : params()) inputs.push_back(onnx.constant(p.name, p.shape, p.value.data()));
    onnx.node("Gemm", inputs, {out[0].name}, {{"transB", int64_t{1}}});
    return true;
  }

 private:
  int64_t inputs_ = 0;  // C*H*W
  WeightedOps ops_;
  Int8Forward int8_ops_;  // int8 inference
};

}  // namespace

REGISTER_LAYER("FC", FcLayer);

}  // namespace obo
