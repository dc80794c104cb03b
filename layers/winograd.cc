#include "layers/winograd.h"

#include <algorithm>

namespace obo {
namespace {

constexpr int kBlock = 8;   // channels a vector holds (AVX2), and the blocked layout's block
constexpr int kTile = 4;    // the (4 x 4) input patch of a (2 x 2) output tile
constexpr int kPoints = 16; // points of the Winograd domain, one product each
// Images one pass of the transforms and products takes, bounding V and M (38 MB for NIN's
// conv2). Held to AVX2, NIN inference at batch 256 ran 10% faster with 64 than with 16: the
// products' rows (tiles) then number thousands.
constexpr int64_t kChunk = 64;

// F(2x2, 3x3): B^T, G, A^T.
constexpr float kBT[4][4] = {{1, 0, -1, 0}, {0, 1, 1, 0}, {0, -1, 1, 0}, {0, 1, 0, -1}};
constexpr float kG[4][3] = {{1, 0, 0}, {.5f, .5f, .5f}, {.5f, -.5f, .5f}, {0, 0, 1}};
constexpr float kAT[2][4] = {{1, 1, 1, 0}, {0, 1, -1, -1}};

}  // namespace

bool WinogradConv::fits(const Shape& x, int64_t outputs) {
  return x.size() == 4 && x[1] % kBlock == 0 && outputs % kBlock == 0;
}

void WinogradConv::init(const dnn::memory::desc& x_md, int64_t outputs, const std::optional<PostOp>& post_op) {
  const dnn::memory::dims d = x_md.dims();
  n_ = d[0], c_ = d[1], h_ = d[2], w_ = d[3], k_ = outputs;
  tiles_h_ = (h_ + 1) / 2, tiles_w_ = (w_ + 1) / 2;
  chunk_ = std::min(n_, kChunk);
  using tag = dnn::memory::format_tag;
  src_.init(x_md, dnn::memory::desc(d, dnn::memory::data_type::f32, tag::nChw8c));
  y_md_ = dnn::memory::desc({n_, k_, h_, w_}, dnn::memory::data_type::f32, tag::nChw8c);

  const int64_t tiles = chunk_ * tiles_h_ * tiles_w_;
  u_.assign(kPoints * c_ * k_, 0.f);
  v_.assign(kPoints * tiles * c_, 0.f);
  m_.assign(kPoints * tiles * k_, 0.f);
  auto product = [&](int64_t images) {
    const int64_t rows = images * tiles_h_ * tiles_w_;
    const auto md = [](int64_t a, int64_t b, int64_t c) {
      return dnn::memory::desc({a, b, c}, dnn::memory::data_type::f32, tag::abc);
    };
    const dnn::memory::desc v_md = md(kPoints, rows, c_), m_md = md(kPoints, rows, k_);
    const auto pd = dnn::matmul(v_md, md(kPoints, c_, k_), m_md);
    Product p{dnn::create(pd), {}};
    p.args = {{DNNL_ARG_SRC, dnn::memory(v_md, dnn::engine(), v_.data())},
              {DNNL_ARG_WEIGHTS, dnn::memory(md(kPoints, c_, k_), dnn::engine(), u_.data())},
              {DNNL_ARG_DST, dnn::memory(m_md, dnn::engine(), m_.data())}};
    return p;
  };
  full_ = product(chunk_);
  tail_ = n_ % chunk_ ? std::optional<Product>(product(n_ % chunk_)) : std::nullopt;
  post_op_ = {};
  if (post_op) {
    post_op_ = dnn::create(dnn::eltwise_forward(*post_op, y_md_, false));
    post_op_data_ = dnn::unbound(y_md_);
    post_op_args_ = {{DNNL_ARG_SRC, post_op_data_}, {DNNL_ARG_DST, post_op_data_}};
  }
}

void WinogradConv::forward(const Tensor& x, const Tensor& weight, const Tensor* bias, Tensor& y) {
  src_.read(x);
  const float* xs = static_cast<const float*>(src_.mem().get_data_handle());
  if (!frozen_) transform_weights(weight.data());
  for (int64_t first = 0; first < n_; first += chunk_) {
    const int64_t images = std::min(chunk_, n_ - first);
    transform_input(xs, first, images);
    const Product& p = images == chunk_ ? full_ : *tail_;
    dnn::execute(p.primitive, p.args);
    dnn::stream().wait();
    transform_output(y.data(), bias ? bias->data() : nullptr, first, images);
  }
  if (post_op_) {
    post_op_data_.set_data_handle(y.data());
    dnn::execute(post_op_, post_op_args_);
  }
}

void WinogradConv::freeze(const Tensor& weight) {
  transform_weights(weight.data());
  frozen_ = true;
}

// U[p][c][k] = (G g G^T)[p] for the 3x3 kernel g of each (k, c).
void WinogradConv::transform_weights(const float* w) {
  const int64_t C = c_, K = k_;
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t c = 0; c < C; ++c)
    for (int64_t k = 0; k < K; ++k) {
      const float* g = w + (k * C + c) * 9;
      float gg[4][3];  // G g
      for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 3; ++j) gg[i][j] = kG[i][0] * g[j] + kG[i][1] * g[3 + j] + kG[i][2] * g[6 + j];
      for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 4; ++j)
          u_[((i * 4 + j) * C + c) * K + k] = gg[i][0] * kG[j][0] + gg[i][1] * kG[j][1] + gg[i][2] * kG[j][2];
    }
}

// V[p][tile][c] = (B^T d B)[p] for each tile's 4x4 input patch d (zero beyond the image), eight
// channels at a time: every inner loop below is one vector operation.
void WinogradConv::transform_input(const float* x, int64_t first_image, int64_t images) {
  const int64_t C = c_, H = h_, W = w_, TH = tiles_h_, TW = tiles_w_;
  const int64_t tiles = images * TH * TW, stride = tiles * C;  // between points
  float* v = v_.data();
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t t = 0; t < tiles; ++t)
    for (int64_t cb = 0; cb < C / kBlock; ++cb) {
      const int64_t n = first_image + t / (TH * TW), i0 = t / TW % TH * 2 - 1, j0 = t % TW * 2 - 1;
      const float* plane = x + (n * (C / kBlock) + cb) * H * W * kBlock;
      alignas(32) float d[kTile][kTile][kBlock], bd[kTile][kTile][kBlock];
      for (int i = 0; i < kTile; ++i)
        for (int j = 0; j < kTile; ++j) {
          const int64_t h = i0 + i, col = j0 + j;
          if (h >= 0 && h < H && col >= 0 && col < W) {
            const float* src = plane + (h * W + col) * kBlock;
#pragma omp simd
            for (int e = 0; e < kBlock; ++e) d[i][j][e] = src[e];
          } else {
#pragma omp simd
            for (int e = 0; e < kBlock; ++e) d[i][j][e] = 0.f;
          }
        }
      for (int i = 0; i < kTile; ++i)  // B^T d
        for (int j = 0; j < kTile; ++j)
#pragma omp simd
          for (int e = 0; e < kBlock; ++e)
            bd[i][j][e] = kBT[i][0] * d[0][j][e] + kBT[i][1] * d[1][j][e] + kBT[i][2] * d[2][j][e] + kBT[i][3] * d[3][j][e];
      for (int i = 0; i < kTile; ++i)  // (B^T d) B
        for (int j = 0; j < kTile; ++j) {
          float* dst = v + (i * 4 + j) * stride + t * C + cb * kBlock;
#pragma omp simd
          for (int e = 0; e < kBlock; ++e)
            dst[e] = bd[i][0][e] * kBT[j][0] + bd[i][1][e] * kBT[j][1] + bd[i][2][e] * kBT[j][2] + bd[i][3][e] * kBT[j][3];
        }
    }
}

// Each tile's 2x2 outputs = A^T M A (+ bias), cut at the image's edge, written in nChw8c.
void WinogradConv::transform_output(float* y, const float* bias, int64_t first_image, int64_t images) {
  const int64_t K = k_, H = h_, W = w_, TH = tiles_h_, TW = tiles_w_;
  const int64_t tiles = images * TH * TW, stride = tiles * K;
  const float* mp = m_.data();
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t t = 0; t < tiles; ++t)
    for (int64_t kb = 0; kb < K / kBlock; ++kb) {
      const int64_t n = first_image + t / (TH * TW), i0 = t / TW % TH * 2, j0 = t % TW * 2;
      alignas(32) float m[kTile][kTile][kBlock], am[2][kTile][kBlock], b[kBlock];
      for (int p = 0; p < kPoints; ++p) {
        const float* src = mp + p * stride + t * K + kb * kBlock;
#pragma omp simd
        for (int e = 0; e < kBlock; ++e) m[p / 4][p % 4][e] = src[e];
      }
#pragma omp simd
      for (int e = 0; e < kBlock; ++e) b[e] = bias ? bias[kb * kBlock + e] : 0.f;
      for (int i = 0; i < 2; ++i)  // A^T M
        for (int j = 0; j < kTile; ++j)
#pragma omp simd
          for (int e = 0; e < kBlock; ++e)
            am[i][j][e] = kAT[i][0] * m[0][j][e] + kAT[i][1] * m[1][j][e] + kAT[i][2] * m[2][j][e] + kAT[i][3] * m[3][j][e];
      float* plane = y + (n * (K / kBlock) + kb) * H * W * kBlock;
      for (int i = 0; i < 2 && i0 + i < H; ++i)  // (A^T M) A
        for (int j = 0; j < 2 && j0 + j < W; ++j) {
          float* dst = plane + ((i0 + i) * W + j0 + j) * kBlock;
#pragma omp simd
          for (int e = 0; e < kBlock; ++e)
            dst[e] = b[e] + am[i][0][e] * kAT[j][0] + am[i][1][e] * kAT[j][1] + am[i][2][e] * kAT[j][2] +
                     am[i][3][e] * kAT[j][3];
        }
    }
}

}  // namespace obo
