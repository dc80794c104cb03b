// Concat along channels: the Inception block's join. Each input is copied into its channel slice
// of the output (a sub-memory view) by one reorder, forward; backward hands each input its slice
// of the gradient the same way. The output's layout is the seam's concat_desc(): the inputs'
// own blocked layout when their channels are whole blocks, else NHWC, never plain NCHW, which
// leaves a pooling after it to oneDNN's reference kernel on AVX2. Where every layer that reads the
// output is a max-pool or a 1x1 convolution, the graph hands each a copy of this layer
// (fuse_concatenations, framework/passes.h): the readers read the inputs where they lie, and run
// this layer's passes only where they cannot.
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

  bool to_onnx(OnnxGraph& onnx, const std::vector<OnnxValue>& in, const std::vector<OnnxValue>& out) const override {
    std::vector<std::string> inputs;
    for (const OnnxValue& x : in) inputs.push_back(x.name);
    onnx.node("Concat", inputs, {out[0].name}, {{"axis", int64_t{1}}});
    return true;
  }

  void reshape(const Ports& in, const Ports& out) override {
    Shapes shapes;
    std::vector<dnn::memory::desc> srcs;
    for (const Port& x : in) {
      shapes.push_back(x.value->shape());
      srcs.push_back(dnn::desc_of(*x.value));
    }
    const Shape y_shape = output_shapes(shapes)[0];
    // In int8 inference the output is stored as its plan says; each input is copied into its
    // slice at that scale (a plain copy where the plan gave it the same scale, as it does to
    // inputs stored int8).
    const std::optional<Quantized> q = int8() ? int8()->out[0] : std::nullopt;
    const float y_scale = q ? q->scale : 1.f;
    const auto y_md = dnn::retyped(dnn::concat_desc(srcs, y_shape), dnn::data_type(q));
    out[0].value->reshape(y_shape, dnn::layout_of(y_md, y_scale));
    parts_.clear();
    int64_t offset = 0;
    for (size_t i = 0; i < in.size(); ++i) {
      const Shape& s = shapes[i];
      Part p;
      p.x = dnn::unbound(srcs[i]);
      p.slice = dnn::unbound(y_md.submemory_desc({s[0], s[1], s[2], s[3]}, {0, offset, 0, 0}));
      p.forward = dnn::create_reorder(p.x, p.slice, dnn::scale_of(*in[i].value) / y_scale);
      p.forward_args = dnn::reorder_args(p.x, p.slice);
      if (!inference_only()) {
        p.backward = dnn::create_reorder(p.slice, p.x);
        p.backward_args = dnn::reorder_args(p.slice, p.x);
      }
      parts_.push_back(std::move(p));
      offset += s[1];
    }
  }

  void forward(const Ports& in, const Ports& out, const Context&) override {
    for (size_t i = 0; i < in.size(); ++i) {
      parts_[i].x.set_data_handle(in[i].value->data());
      parts_[i].slice.set_data_handle(out[0].value->data());
      dnn::execute(parts_[i].forward, parts_[i].forward_args);
    }
  }

  bool runs_int8() const override { return true; }
  bool keeps_scale() const override { return true; }
  bool concatenates() const override { return true; }

  bool backward_reads_input(size_t) const override { return false; }
  bool backward_reads_output(size_t) const override { return false; }
  void backward(const Ports& in, const Ports& out) override {
    for (size_t i = 0; i < in.size(); ++i) {
      if (!in[i].grad) continue;
      parts_[i].slice.set_data_handle(out[0].grad->data());
      parts_[i].x.set_data_handle(in[i].grad->data());
      dnn::execute(parts_[i].backward, parts_[i].backward_args);
    }
  }

 private:
  struct Part {  // one input: its tensor, its channel slice of the output, the copies between
    dnn::memory x, slice;
    dnnl::reorder forward, backward;
    dnn::Args forward_args, backward_args;
  };
  std::vector<Part> parts_;
};

}  // namespace

REGISTER_LAYER("Concat", ConcatLayer);

}  // namespace obo
