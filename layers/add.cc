// Add: the element-wise sum of two or more blobs of one shape, the join of a residual
// connection (y = f(x) + x). Inputs may arrive in different layouts; the output takes the first
// input's, and backward hands each input the output's gradient, reordered to its layout.
//   layer { name: "res1" type: "Add" input: "block1" input: "shortcut1" output: "res1" }
//   (N,C,H,W) x k -> (N,C,H,W)
#include "framework/dnnl_seam.h"
#include "framework/registry.h"

namespace obo {
namespace {

class Add : public Layer {
 public:
  explicit Add(const LayerParameter& p) : Layer(p) { expect_arity(2, 64, 1); }

  Shapes output_shapes(const Shapes& in) const override {
    for (size_t i = 1; i < in.size(); ++i)
      if (in[i] != in[0])
        error("input {} ('{}') has shape {}, input 0 ('{}') {}: added blobs must have one shape", i,
              config().input(static_cast<int>(i)), to_string(in[i]), config().input(0), to_string(in[0]));
    return {in[0]};
  }

  bool to_onnx(OnnxGraph& onnx, const std::vector<OnnxValue>& in, const std::vector<OnnxValue>& out) const override {
    std::vector<std::string> inputs;
    for (const OnnxValue& x : in) inputs.push_back(x.name);
    onnx.node("Sum", inputs, {out[0].name});
    return true;
  }

  void reshape(const Ports& in, const Ports& out) override {
    const auto y_md = dnn::desc_of(*in[0].value);
    out[0].value->reshape(in[0].value->shape(), in[0].value->layout());
    std::vector<dnn::memory::desc> srcs;
    for (const Port& x : in) srcs.push_back(dnn::desc_of(*x.value));
    y_ = dnn::unbound(y_md);
    dy_ = dnn::unbound(y_md);
    xs_.clear();
    dxs_.clear();
    backward_.clear();
    backward_args_.clear();
    forward_args_ = {{DNNL_ARG_DST, y_}};
    for (size_t i = 0; i < in.size(); ++i) {
      xs_.push_back(dnn::unbound(srcs[i]));
      forward_args_.set(DNNL_ARG_MULTIPLE_SRC + static_cast<int>(i), xs_.back());
      dxs_.push_back(dnn::unbound(srcs[i]));
      backward_.push_back(dnn::create_reorder(dy_, dxs_.back()));
      backward_args_.push_back(dnn::reorder_args(dy_, dxs_.back()));
    }
    forward_ = dnn::create(dnn::sum(y_md, srcs));
  }

  void forward(const Ports& in, const Ports& out, const Context&) override {
    for (size_t i = 0; i < in.size(); ++i) xs_[i].set_data_handle(in[i].value->data());
    y_.set_data_handle(out[0].value->data());
    dnn::execute(forward_, forward_args_);
  }

  // d(sum)/d(input i) is the identity: each input's gradient is the output's, in its layout.
  bool backward_reads_input(size_t) const override { return false; }
  bool backward_reads_output(size_t) const override { return false; }
  void backward(const Ports& in, const Ports& out) override {
    dy_.set_data_handle(out[0].grad->data());
    for (size_t i = 0; i < in.size(); ++i) {
      if (!in[i].grad) continue;
      dxs_[i].set_data_handle(in[i].grad->data());
      dnn::execute(backward_[i], backward_args_[i]);
    }
  }

 private:
  dnnl::primitive forward_;
  dnn::memory y_, dy_;
  std::vector<dnn::memory> xs_, dxs_;  // per input: its value, its gradient
  std::vector<dnnl::reorder> backward_;
  std::vector<dnn::Args> backward_args_;
  dnn::Args forward_args_;
};

}  // namespace

REGISTER_LAYER("Add", Add);

}  // namespace obo
