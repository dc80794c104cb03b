// Concat along channels: the Inception block's join. Inputs may arrive in different layouts;
// oneDNN's concat reads each as it is. The output is plain NCHW so that backward can hand each
// input its channel slice (a sub-memory view) through one reorder.
//   (N,C1,H,W), (N,C2,H,W), ... -> (N,C1+C2+...,H,W)
#include "framework/dnnl_seam.h"
#include "framework/registry.h"

namespace obo {
namespace {

class ConcatLayer : public Layer {
 public:
  explicit ConcatLayer(const LayerParameter& p) : Layer(p) { expect_arity(1, 64, 1); }

  Shapes output_shapes(const Shapes& in) const override {
    const Shape& first = in[0];
    if (first.size() != 4) error("needs (N,C,H,W) inputs, got {}", to_string(first));
    Shape y = first;
    y[1] = 0;
    for (size_t i = 0; i < in.size(); ++i) {
      const Shape& s = in[i];
      if (s.size() != 4 || s[0] != first[0] || s[2] != first[2] || s[3] != first[3])
        error("input {} ('{}') has shape {}, expected ({},C,{},{}) like input 0", i,
              config().input(static_cast<int>(i)), to_string(s), first[0], first[2], first[3]);
      y[1] += s[1];
    }
    return {y};
  }

  void reshape(const Ports& in, const Ports& out) override {
    Shapes shapes;
    std::vector<dnn::memory::desc> srcs;
    for (const Port& x : in) {
      shapes.push_back(x.value->shape());
      srcs.push_back(dnn::desc_of(*x.value));
    }
    const Shape y_shape = output_shapes(shapes)[0];
    const auto y_md = dnn::plain_desc(y_shape);
    out[0].value->reshape(y_shape);
    forward_ = dnn::create(dnn::concat(y_md, 1, srcs));
    y_ = dnn::unbound(y_md);
    args_ = {{DNNL_ARG_DST, y_}};
    xs_.clear();
    slices_.clear();
    backward_.clear();
    backward_args_.clear();
    int64_t offset = 0;
    for (size_t i = 0; i < in.size(); ++i) {
      xs_.push_back(dnn::unbound(srcs[i]));
      args_.set(DNNL_ARG_MULTIPLE_SRC + static_cast<int>(i), xs_.back());
      const Shape& s = in[i].value->shape();
      slices_.push_back(dnn::unbound(y_md.submemory_desc({s[0], s[1], s[2], s[3]}, {0, offset, 0, 0})));
      backward_.push_back(dnn::create_reorder(slices_.back(), xs_.back()));
      backward_args_.push_back(dnn::reorder_args(slices_.back(), xs_.back()));
      offset += s[1];
    }
  }

  void forward(const Ports& in, const Ports& out, const Context&) override {
    for (size_t i = 0; i < in.size(); ++i) xs_[i].set_data_handle(in[i].value->data());
    y_.set_data_handle(out[0].value->data());
    dnn::execute(forward_, args_);
  }

  void backward(const Ports& in, const Ports& out) override {
    for (size_t i = 0; i < in.size(); ++i) {
      if (!in[i].grad) continue;
      slices_[i].set_data_handle(out[0].grad->data());
      xs_[i].set_data_handle(in[i].grad->data());
      dnn::execute(backward_[i], backward_args_[i]);
    }
  }

 private:
  dnnl::primitive forward_;
  dnn::memory y_;
  std::vector<dnn::memory> xs_, slices_;  // per input: its tensor; its channel slice of y
  std::vector<dnnl::reorder> backward_;
  std::vector<dnn::Args> backward_args_;
  dnn::Args args_;
};

}  // namespace

REGISTER_LAYER("Concat", ConcatLayer);

}  // namespace obo
