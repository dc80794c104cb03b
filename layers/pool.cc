// Pooling on oneDNN: MaxPool and AvgPool (kernel, stride, pad; output size rounds down, as in
// PyTorch) and GlobalAvgPool, whose window is the whole map: NIN's replacement for FC layers.
//   MaxPool 2x2:    (N,C,H,W) -> (N,C,H/2,W/2)
//   GlobalAvgPool:  (N,C,H,W) -> (N,C,1,1)
// Max pooling keeps where each maximum was for the backward pass; in an inference graph it keeps
// none and builds no backward pass. Max-pools on channel-blocked layouts have our own loops
// (ChannelBlockMaxPool): training always runs them, inference runs them or oneDNN's, whichever
// its first passes measure faster on this CPU (Fastest); so do int8 max-pools on NHWC
// (ByteMaxPool). Everything else runs oneDNN's primitives.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "framework/dnnl_seam.h"
#include "framework/fastest.h"
#include "framework/registry.h"

namespace obo {
namespace {

enum class Kind { kMax, kAvg, kGlobalAvg };

// Max pooling of our own, on layouts whose channels are innermost in blocks of a multiple of
// eight: nChw8c, nChw16c, and NHWC (one block of all C channels) when C is a multiple of eight.
// oneDNN 2.6's training kernel starts each block of outputs with a legacy-SSE instruction while
// the vector registers are dirty: on Intel each costs an AVX-to-SSE transition (110 to 160 ns on
// this project's Xeon guest), and NIN's max-pools took 1.1 to 2.9 times PyTorch's time in
// training (README). Here the channels of a block are the inner loop, eight at a time in a
// vector register; forward keeps, per output, which element of its window held the maximum (a
// byte), and backward adds each output's gradient there. The first of equal maxima wins, and
// the maximum starts at the lowest finite float, as in oneDNN's kernel (its -FLT_MAX fill): a
// window of -inf gives that, and a NaN is never taken. (Starting at -inf instead let an infinite
// weight's NaNs reach a ReLU, which made them 0, and the divergence test saw a finite loss.)
class ChannelBlockMaxPool {
 public:
  // Whether md is such a layout (plain blocked memory, channels innermost, no offset).
  static bool fits(const dnn::memory::desc& md, int64_t kernel) {
    const dnnl_memory_desc_t& d = md.data;
    if (d.format_kind != dnnl_blocked || d.ndims != 4 || d.offset0 != 0 || kernel * kernel > 255) return false;
    const auto& b = d.format_desc.blocking;
    const bool nhwc = b.inner_nblks == 0 && b.strides[1] == 1 && d.dims[1] % kLanes == 0;
    const bool blocked = b.inner_nblks == 1 && b.inner_idxs[0] == 1 && b.inner_blks[0] % kLanes == 0;
    return nhwc || blocked;
  }

  // keep_argmax: forward records where each maximum was, for backward (training).
  void init(const dnn::memory::desc& x_md, const dnn::memory::desc& y_md, const dnn::Window& w, bool keep_argmax) {
    x_ = geometry(x_md);
    y_ = geometry(y_md);
    kernel_ = w.kernel[0], stride_ = w.strides[0], pad_ = w.pad_l[0];
    x_size_ = x_md.get_size() / sizeof(float);
    argmax_.assign(keep_argmax ? y_md.get_size() / sizeof(float) : 0, 0);
  }

  // What the speed of these loops depends on: the shapes, layouts and window.
  std::string key() const {
    return fmt::format("max-pool x {} y {} kernel {} stride {} pad {}", x_.describe(), y_.describe(), kernel_, stride_, pad_);
  }

  // VEX-encoded where the CPU has AVX2: legacy-SSE code here would pay the transitions this
  // replaces oneDNN's kernel to avoid. Two things keep the loop in registers: GCC's vector types
  // for the lanes (arrays of lanes stayed in memory and were stored one lane at a time), and each
  // thread's own copies of the geometry and pointers (firstprivate: shared ones are read again
  // through a pointer after every byte stored, which may alias anything). Before both, NIN's
  // first pool at batch 128 took 1.4 (forward) and 1.6 (backward) times as long on AVX-512 and
  // twice as long held to AVX2.
  __attribute__((target_clones("avx2", "default"))) void forward(const float* x, float* y) {
    const Geometry X = x_, Y = y_;
    const int64_t B = X.block, K = kernel_, S = stride_, P = pad_;
    uint8_t* argmax = argmax_.empty() ? nullptr : argmax_.data();
#pragma omp parallel for collapse(3) schedule(static) firstprivate(X, Y, B, K, S, P, x, y, argmax)
    for (int64_t n = 0; n < Y.n; ++n)
      for (int64_t cb = 0; cb < Y.blocks; ++cb)
        for (int64_t oh = 0; oh < Y.h; ++oh)
          for (int64_t ow = 0; ow < Y.w; ++ow) {
            const int64_t o = n * Y.sn + cb * Y.sb + oh * Y.sh + ow * Y.sw;
            // Eight channels at a time in vector registers, the maximum and its place chosen
            // without a branch.
            for (int64_t c0 = 0; c0 < B; c0 += kLanes) {
              Floats best = Floats{} + std::numeric_limits<float>::lowest();
              Ints at{};
              window(X, K, S, P, n, cb, oh, ow, [&](int64_t i, int32_t k) __attribute__((always_inline)) {
                Floats in;
                std::memcpy(&in, x + i + c0, sizeof in);
                const Ints larger = in > best;
                best = larger ? in : best;
                at = larger ? Ints{} + k : at;
              });
              const Bytes places = __builtin_convertvector(at, Bytes);
              std::memcpy(y + o + c0, &best, sizeof best);
              if (argmax) std::memcpy(argmax + o + c0, &places, sizeof places);
            }
          }
  }

  // dx = each output's gradient at its maximum, 0 elsewhere. Windows of different images or
  // channel blocks never share an input, so each thread owns what it writes. Where the windows
  // tile the input exactly (NIN's and LeNet's 2x2, stride 2), each input is written once and
  // nothing needs zeroing first.
  __attribute__((target_clones("avx2", "default"))) void backward(const float* dy, float* dx) {
    const Geometry X = x_, Y = y_;
    const int64_t B = X.block, K = kernel_, S = stride_, P = pad_;
    const uint8_t* argmax = argmax_.data();
    const bool tiles = S == K && P == 0 && X.h == Y.h * K && X.w == Y.w * K;
    if (!tiles) std::memset(dx, 0, x_size_ * sizeof(float));
#pragma omp parallel for collapse(2) schedule(static) firstprivate(X, Y, B, K, S, P, dy, dx, argmax, tiles)
    for (int64_t n = 0; n < Y.n; ++n)
      for (int64_t cb = 0; cb < Y.blocks; ++cb)
        for (int64_t oh = 0; oh < Y.h; ++oh)
          for (int64_t ow = 0; ow < Y.w; ++ow) {
            const int64_t o = n * Y.sn + cb * Y.sb + oh * Y.sh + ow * Y.sw;
            for (int64_t c0 = 0; c0 < B; c0 += kLanes) {  // as in forward
              Floats g;
              Bytes places;
              std::memcpy(&g, dy + o + c0, sizeof g);
              std::memcpy(&places, argmax + o + c0, sizeof places);
              const Ints at = __builtin_convertvector(places, Ints);
              window(X, K, S, P, n, cb, oh, ow, [&](int64_t i, int32_t k) __attribute__((always_inline)) {
                float* in = dx + i + c0;
                Floats sum = at == k ? g : Floats{};
                if (!tiles) {
                  Floats before;
                  std::memcpy(&before, in, sizeof before);
                  sum += before;
                }
                std::memcpy(in, &sum, sizeof sum);
              });
            }
          }
  }

 private:
  // GCC's vector types: eight lanes, in one register where the CPU has AVX2 (two elsewhere).
  static constexpr int64_t kLanes = 8;
  using Floats = float __attribute__((vector_size(4 * kLanes)));
  using Ints = int32_t __attribute__((vector_size(4 * kLanes)));
  using Bytes = uint8_t __attribute__((vector_size(kLanes)));
  // Element (n, c, h, w) is at n*sn + (c / block)*sb + h*sh + w*sw + c % block.
  struct Geometry {
    int64_t n, blocks, block, h, w, sn, sb, sh, sw;
    std::string describe() const {
      return fmt::format("({},{}x{},{},{}) strides ({},{},{},{})", n, blocks, block, h, w, sn, sb, sh, sw);
    }
  };
  // Calls visit(offset in x of the element's channel block, kh*K + kw) for each element of
  // output (n, cb, oh, ow)'s K x K window (stride S, padding P) that lies inside x.
  template <typename Visit>
  __attribute__((always_inline)) static void window(const Geometry& X, int64_t K, int64_t S, int64_t P, int64_t n,
                                                    int64_t cb, int64_t oh, int64_t ow, Visit&& visit) {
    for (int64_t kh = 0; kh < K; ++kh) {
      const int64_t ih = oh * S - P + kh;
      if (ih < 0 || ih >= X.h) continue;
      for (int64_t kw = 0; kw < K; ++kw) {
        const int64_t iw = ow * S - P + kw;
        if (iw < 0 || iw >= X.w) continue;
        visit(n * X.sn + cb * X.sb + ih * X.sh + iw * X.sw, static_cast<int32_t>(kh * K + kw));
      }
    }
  }

  static Geometry geometry(const dnn::memory::desc& md) {
    const dnnl_memory_desc_t& d = md.data;
    const auto& b = d.format_desc.blocking;
    const int64_t block = b.inner_nblks == 0 ? d.dims[1] : b.inner_blks[0];
    return {d.dims[0], d.padded_dims[1] / block, block, d.dims[2], d.dims[3],
            b.strides[0], b.strides[1], b.strides[2], b.strides[3]};
  }

  Geometry x_{}, y_{};
  int64_t kernel_ = 0, stride_ = 0, pad_ = 0, x_size_ = 0;
  std::vector<uint8_t> argmax_;  // at y's offsets; empty in inference
};

// int8 max pooling of our own, on NHWC (acdb: channels innermost, the layout oneDNN's int8
// convolutions write), for u8 and s8: each output pixel is the byte-wise maximum of its window's
// pixels, C contiguous bytes each, which the compiler vectorizes. Held to AVX2 on this project's
// Xeon guest, oneDNN 2.6's jit_int:avx2 kernel took 1.7 ms for Inception's 2x2 pool of 56
// channels at batch 128, 40% of the int8 pass (AVX-to-SSE transitions, as its float kernel
// pays). Padding is never the maximum: windows are clipped to the input, as oneDNN's are.
class ByteMaxPool {
 public:
  static bool fits(const dnn::memory::desc& x, const dnn::memory::desc& y) {
    const auto type = x.data_type();
    const auto nhwc = [&](const dnn::memory::desc& md) {
      return md == dnn::memory::desc(md.dims(), type, dnn::memory::format_tag::acdb);
    };
    return (type == dnn::memory::data_type::u8 || type == dnn::memory::data_type::s8) && y.data_type() == type &&
           nhwc(x) && nhwc(y);
  }

  void init(const dnn::memory::desc& x, const dnn::memory::desc& y, const dnn::Window& w) {
    const dnn::memory::dims in = x.dims(), out = y.dims();
    g_ = {in[0], in[1], in[2], in[3], out[2], out[3], w.kernel[0], w.strides[0], w.pad_l[0]};
    signed_ = x.data_type() == dnn::memory::data_type::s8;
  }

  std::string key() const {
    return fmt::format("int8 max-pool {} ({},{},{},{}) kernel {} stride {} pad {}", signed_ ? "s8" : "u8", g_.n, g_.c,
                       g_.h, g_.w, g_.k, g_.s, g_.p);
  }

  void forward(const void* x, void* y) const {
    if (signed_)
      run(static_cast<const int8_t*>(x), static_cast<int8_t*>(y), g_);
    else
      run(static_cast<const uint8_t*>(x), static_cast<uint8_t*>(y), g_);
  }

 private:
  struct Geometry {
    int64_t n, c, h, w, oh, ow, k, s, p;
  };

  template <typename T>
  static void run(const T* x, T* y, const Geometry g) {
#pragma omp parallel for collapse(2) firstprivate(x, y, g)
    for (int64_t n = 0; n < g.n; ++n)
      for (int64_t oh = 0; oh < g.oh; ++oh) {
        const int64_t h0 = std::max<int64_t>(oh * g.s - g.p, 0), h1 = std::min(oh * g.s - g.p + g.k, g.h);
        for (int64_t ow = 0; ow < g.ow; ++ow) {
          const int64_t w0 = std::max<int64_t>(ow * g.s - g.p, 0), w1 = std::min(ow * g.s - g.p + g.k, g.w);
          T* __restrict out = y + ((n * g.oh + oh) * g.ow + ow) * g.c;
          const T* first = x + ((n * g.h + h0) * g.w + w0) * g.c;
          for (int64_t c = 0; c < g.c; ++c) out[c] = first[c];
          for (int64_t ih = h0; ih < h1; ++ih)
            for (int64_t iw = w0; iw < w1; ++iw) {
              const T* __restrict in = x + ((n * g.h + ih) * g.w + iw) * g.c;
              for (int64_t c = 0; c < g.c; ++c) out[c] = std::max(out[c], in[c]);
            }
        }
      }
  }

  Geometry g_{};
  bool signed_ = false;
};

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
    // In int8 inference the primitive runs in its output's type, at its scale, on the input in
    // its tensor's layout (converted first where the tensor holds another type or scale).
    const std::optional<Quantized> q = int8() ? int8()->out[0] : std::nullopt;
    const auto type = dnn::data_type(q);
    const float scale = q ? q->scale : 1.f;
    const auto x_md = dnn::desc_of(x), src_md = dnn::retyped(x_md, type);
    auto fwd = dnn::pooling_forward(alg, src_md, dnn::memory::desc(dnn::dims(y_shape), type, dnn::memory::format_tag::any),
                                    window, !inference_only());
    out[0].value->reshape(y_shape, dnn::layout_of(fwd.dst_desc(), scale));
    ours_.reset();
    ours_int8_.reset();
    choice_ = Fastest::only(kOneDnn);
    if (kind_ == Kind::kMax && q && x_md == src_md && dnn::scale_of(x) == scale && ByteMaxPool::fits(x_md, fwd.dst_desc())) {
      ours_int8_.emplace();
      ours_int8_->init(x_md, fwd.dst_desc(), window);
      choice_ = Fastest(ours_int8_->key(), 2);
    }
    if (kind_ == Kind::kMax && x_md == src_md && !q && ChannelBlockMaxPool::fits(x_md, window.kernel[0]) &&
        ChannelBlockMaxPool::fits(fwd.dst_desc(), window.kernel[0])) {
      ours_.emplace();
      ours_->init(x_md, fwd.dst_desc(), window, !inference_only());
      if (!inference_only()) {  // ours: faster in training on both ISAs here (README)
        choice_ = Fastest::only(kOurs);
        return;
      }
      choice_ = Fastest(ours_->key(), 2);
    }
    src_.init(x_md, src_md, dnn::scale_of(x), scale);
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
    choice_([&](size_t kernel) {
      if (kernel == kOurs && ours_int8_) return ours_int8_->forward(in[0].value->data(), out[0].value->data());
      if (kernel == kOurs) return ours_->forward(in[0].value->data(), out[0].value->data());
      src_.read(*in[0].value);
      dst_.bind(*out[0].value);
      dnn::execute(forward_, fwd_args_);
    });
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

  // Every output is one of its window's values, or their mean: at the input's scale.
  bool runs_int8() const override { return true; }
  bool keeps_scale() const override { return true; }

  std::string kernel() const override {
    const std::string quantized = computes_int8() ? "int8" : "";
    if (kind_ != Kind::kMax) return quantized;
    if (!choice_.decided()) return "measuring";
    const std::string which = choice_.next() == kOurs ? "ours" : "oneDNN";
    return quantized.empty() ? which : quantized + ", " + which;
  }

  // Max-pool's backward reads its workspace (where each maximum was), average pooling nothing.
  bool backward_reads_input(size_t) const override { return false; }
  bool backward_reads_output(size_t) const override { return false; }
  void backward(const Ports& in, const Ports& out) override {
    if (choice_.next() == kOurs) return ours_->backward(out[0].grad->data(), in[0].grad->data());
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

  enum : size_t { kOneDnn, kOurs };  // the kernels choice_ chooses between
  Kind kind_;
  std::optional<ChannelBlockMaxPool> ours_;
  std::optional<ByteMaxPool> ours_int8_;  // int8 inference
  Fastest choice_;
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
