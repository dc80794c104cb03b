// Pooling on oneDNN: MaxPool and AvgPool (kernel, stride, pad; output size rounds down, as in
// PyTorch) and GlobalAvgPool, whose window is the whole map: NIN's replacement for FC layers.
//   MaxPool 2x2:    (N,C,H,W) -> (N,C,H/2,W/2)
//   GlobalAvgPool:  (N,C,H,W) -> (N,C,1,1)
// Max pooling keeps oneDNN's workspace (where each maximum was) for the backward pass; in an
// inference graph it keeps none and builds no backward pass.
#include "framework/dnnl_seam.h"
#include "framework/registry.h"

namespace obo {
namespace {

enum class Kind { kMax, kAvg, kGlobalAvg };

class PoolLayer : public Layer {
 public:
  PoolLayer(const LayerParameter& p, Kind kind) : Layer(p), kind_(kind) {
    expect_arity(1, 1, 1);
    if (kind_ == Kind::kGlobalAvg) {
      if (p.has_pool()) error("takes no pool parameters: its window is the whole input");
      return;
    }
    const auto& pool = p.pool();
    if (pool.kernel_size() <= 0 || (pool.has_stride() && pool.stride() <= 0) || pool.pad() < 0)
      error("needs kernel_size > 0, stride > 0, pad >= 0; got {}, {}, {}", pool.kernel_size(),
            pool.stride(), pool.pad());
    if (pool.pad() * 2 > pool.kernel_size())
      error("pad {} is more than half the kernel {}", pool.pad(), pool.kernel_size());
  }

  Shapes output_shapes(const Shapes& in) const override {
    const Shape& x = in[0];
    if (x.size() != 4) error("needs an (N,C,H,W) input, got {}", to_string(x));
    const dnn::Window w = window(x);
    const int64_t pad = w.pad_l[0];
    if (x[2] + 2 * pad < w.kernel[0] || x[3] + 2 * pad < w.kernel[1])
      error("a {}x{} window with pad {} does not fit input {}", w.kernel[0], w.kernel[1], pad, to_string(x));
    return {{x[0], x[1], (x[2] + 2 * pad - w.kernel[0]) / w.strides[0] + 1,
             (x[3] + 2 * pad - w.kernel[1]) / w.strides[1] + 1}};
  }

  void reshape(const Ports& in, const Ports& out) override {
    const Tensor& x = *in[0].value;
    const Shape y_shape = output_shapes({x.shape()})[0];
    const dnn::Window window = this->window(x.shape());
    const auto alg = kind_ == Kind::kMax ? dnnl::algorithm::pooling_max
                     : config().pool().count_include_pad() ? dnnl::algorithm::pooling_avg_include_padding
                                                           : dnnl::algorithm::pooling_avg_exclude_padding;
    const auto x_md = dnn::desc_of(x);
    auto fwd = dnn::pooling_forward(alg, x_md, dnn::any_desc(y_shape), window, !inference_only());
    out[0].value->reshape(y_shape, dnn::layout_of(fwd.dst_desc()));
    src_.init(x_md, x_md);
    dst_.init(fwd.dst_desc(), fwd.dst_desc());
    forward_ = dnn::create(fwd);
    fwd_args_ = {{DNNL_ARG_SRC, src_.mem()}, {DNNL_ARG_DST, dst_.mem()}};
    if (inference_only()) return;  // no workspace, no backward
    auto bwd = dnn::pooling_backward(alg, x_md, fwd.dst_desc(), window, fwd);
    diff_dst_.init(fwd.dst_desc(), bwd.diff_dst_desc());
    diff_src_.init(x_md, bwd.diff_src_desc());
    backward_ = dnn::create(bwd);
    bwd_args_ = {{DNNL_ARG_DIFF_DST, diff_dst_.mem()}, {DNNL_ARG_DIFF_SRC, diff_src_.mem()}};
    if (kind_ == Kind::kMax) {
      workspace_ = dnn::memory(fwd.workspace_desc(), dnn::engine());
      fwd_args_.set(DNNL_ARG_WORKSPACE, workspace_);
      bwd_args_.set(DNNL_ARG_WORKSPACE, workspace_);
    }
  }

  void forward(const Ports& in, const Ports& out, const Context&) override {
    src_.read(*in[0].value);
    dst_.bind(*out[0].value);
    dnn::execute(forward_, fwd_args_);
  }

  // The same window, padding and rounding down; average pooling counts the padding or not as here.
  bool to_onnx(OnnxGraph& onnx, const std::vector<OnnxValue>& in, const std::vector<OnnxValue>& out) const override {
    if (kind_ == Kind::kGlobalAvg) {
      onnx.node("GlobalAveragePool", {in[0].name}, {out[0].name});
      return true;
    }
    const dnn::Window w = window(in[0].shape);
    std::vector<OnnxGraph::Attribute> attributes{
        {"kernel_shape", std::vector<int64_t>(w.kernel.begin(), w.kernel.end())},
        {"strides", std::vector<int64_t>(w.strides.begin(), w.strides.end())},
        {"pads", std::vector<int64_t>{w.pad_l[0], w.pad_l[1], w.pad_r[0], w.pad_r[1]}}};
    if (kind_ == Kind::kAvg) attributes.push_back({"count_include_pad", int64_t{config().pool().count_include_pad()}});
    onnx.node(kind_ == Kind::kMax ? "MaxPool" : "AveragePool", {in[0].name}, {out[0].name}, attributes);
    return true;
  }

  // Max-pool's backward reads its workspace (where each maximum was), average pooling nothing.
  bool backward_reads_input(size_t) const override { return false; }
  bool backward_reads_output(size_t) const override { return false; }
  void backward(const Ports& in, const Ports& out) override {
    diff_dst_.read(*out[0].grad);
    diff_src_.bind(*in[0].grad);
    dnn::execute(backward_, bwd_args_);
    diff_src_.write(*in[0].grad);
  }

 private:
  // Kernel, strides and padding for an (N,C,H,W) input: the whole map for GlobalAvgPool.
  dnn::Window window(const Shape& x) const {
    if (kind_ == Kind::kGlobalAvg) return {{x[2], x[3]}, {x[2], x[3]}, {0, 0}, {0, 0}};
    const auto& pool = config().pool();
    const int64_t k = pool.kernel_size(), s = pool.has_stride() ? pool.stride() : k, pad = pool.pad();
    return {{k, k}, {s, s}, {pad, pad}, {pad, pad}};
  }

  Kind kind_;
  dnn::Arg src_, dst_, diff_dst_, diff_src_;
  dnn::memory workspace_;
  dnnl::primitive forward_;
  dnnl::primitive backward_;
  dnn::Args fwd_args_, bwd_args_;
};

struct MaxPool : PoolLayer {
  explicit MaxPool(const LayerParameter& p) : PoolLayer(p, Kind::kMax) {}
};
struct AvgPool : PoolLayer {
  explicit AvgPool(const LayerParameter& p) : PoolLayer(p, Kind::kAvg) {}
};
struct GlobalAvgPool : PoolLayer {
  explicit GlobalAvgPool(const LayerParameter& p) : PoolLayer(p, Kind::kGlobalAvg) {}
};

}  // namespace

REGISTER_LAYER("MaxPool", MaxPool);
REGISTER_LAYER("AvgPool", AvgPool);
REGISTER_LAYER("GlobalAvgPool", GlobalAvgPool);

}  // namespace obo
