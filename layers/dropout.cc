// Dropout with inverted scaling: in training each element is kept with probability 1 - ratio and
// scaled by 1 / (1 - ratio), so evaluation is the identity. The mask is a pure function of
// (seed, step, layer name, element), drawn by a counter-based generator: the same seed gives the
// same masks whatever the thread count, and a resumed run draws what an uninterrupted one would.
// Element indices are taken modulo 2^32: a tensor of more than 4G elements repeats its mask.
// Backward draws the mask again rather than keeping it: two hashes an element cost less than
// storing and reading a mask as large as the input.
//   (any shape) -> (same shape, same layout)
#include <cstring>

#include "framework/random.h"
#include "framework/registry.h"

namespace obo {
namespace {

class DropoutLayer : public Layer {
 public:
  explicit DropoutLayer(const LayerParameter& p) : Layer(p) {
    expect_arity(1, 1, 1);
    ratio_ = p.dropout().ratio();
    if (!(ratio_ >= 0.f && ratio_ < 1.f)) error("dropout.ratio must be in [0, 1), got {}", ratio_);
  }

  Shapes output_shapes(const Shapes& in) const override { return {in[0]}; }
  bool identity_in_evaluation() const override { return true; }
  bool to_onnx(OnnxGraph& onnx, const std::vector<OnnxValue>& in, const std::vector<OnnxValue>& out) const override {
    onnx.node("Identity", {in[0].name}, {out[0].name});  // an inference graph has dropped it already
    return true;
  }

  void reshape(const Ports& in, const Ports& out) override {
    out[0].value->reshape(in[0].value->shape(), in[0].value->layout());
  }

  void forward(const Ports& in, const Ports& out, const Context& ctx) override {
    const float* x = in[0].value->data();
    float* y = out[0].value->data();
    const int64_t n = static_cast<int64_t>(in[0].value->size());
    train_ = ctx.train && ratio_ > 0.f;
    if (!train_) {
      std::memcpy(y, x, n * sizeof(float));
      return;
    }
    key_ = random_bits(ctx.seed, stream_of(name()), ctx.step);
    // Layouts keep each example's elements together, first example first: this batch's first
    // element is element first_example * (n / N) of the global batch.
    first_ = static_cast<uint64_t>(ctx.first_example) * static_cast<uint64_t>(n / in[0].value->dim(0));
    apply_mask(x, y, n);
  }

  // Backward draws the mask again from its key.
  bool backward_reads_input(size_t) const override { return false; }
  bool backward_reads_output(size_t) const override { return false; }
  void backward(const Ports& in, const Ports& out) override {
    const float* dy = out[0].grad->data();
    float* dx = in[0].grad->data();
    const int64_t n = static_cast<int64_t>(in[0].grad->size());
    if (!train_) {
      std::memcpy(dx, dy, n * sizeof(float));
      return;
    }
    apply_mask(dy, dx, n);
  }

 private:
  // y = x * mask, the mask drawn from key_: 0 or 1/(1-ratio) per stored element. Each element
  // costs two 32-bit hashes, which vectorise.
  void apply_mask(const float* x, float* y, int64_t n) const {
    const uint64_t first = first_;
    const uint32_t k1 = static_cast<uint32_t>(key_), k2 = static_cast<uint32_t>(key_ >> 32);
    const uint32_t threshold = static_cast<uint32_t>(static_cast<double>(ratio_) * 0x1p24);  // on 24 bits
    const float scale = 1.f / (1.f - ratio_);
#pragma omp parallel for simd schedule(static)
    for (int64_t i = 0; i < n; ++i) {
      const uint32_t bits = hash32(hash32(static_cast<uint32_t>(first + i) ^ k1) + k2) >> 8;
      y[i] = x[i] * (bits < threshold ? 0.f : scale);
    }
  }

  float ratio_;
  bool train_ = false;  // whether the last forward pass applied a mask
  uint64_t key_ = 0;    // the last forward pass's mask: of this layer, its seed and step
  uint64_t first_ = 0;  // and the global index of its first element
};

}  // namespace

REGISTER_LAYER("Dropout", DropoutLayer);

}  // namespace obo
