// Does Winograd built on oneDNN's matmul beat oneDNN's direct 3x3 convolution where oneDNN 2.6
// has no Winograd kernel of its own (below AVX-512)? One forward pass of each of NIN's and
// ResNet-mini's 3x3 layers, timed both ways on the same input:
//
//   direct:   oneDNN convolution_direct, forward_training (what a training graph runs), in the
//             layouts oneDNN chooses (nChw8c on AVX2, nChw16c on AVX-512).
//   F(m,3):   Winograd F(m x m, 3 x 3) (Lavin & Gray, 2016), m = 2 or 4. The transforms of the
//             input, weights and output are OpenMP loops over the same blocked layout; the
//             (m+2)^2 products of the Winograd domain are one batched oneDNN matmul,
//             (tiles x C) . (C x K) for each of them.
//
// Backward data is the same computation with the weights flipped and C and K swapped, and
// backward weights the same three steps with the roles of the operands changed, so the forward
// figure says which way the training step would go. The output of each Winograd variant is
// checked against the direct one (the largest error relative to the largest output).
//
//   build/winograd_bench [--threads N]        (run it as ONEDNN_MAX_CPU_ISA=AVX2 build/winograd_bench)
#include <dnnl.hpp>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

namespace {

using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;

dnnl::engine& engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}
dnnl::stream& stream() {
  static dnnl::stream s(engine());
  return s;
}

// Median wall time of `fn` in ms, after warm-up.
double median_ms(const std::function<void()>& fn, int runs = 30) {
  for (int i = 0; i < 3; ++i) fn();
  std::vector<double> t;
  for (int i = 0; i < runs; ++i) {
    const auto start = std::chrono::steady_clock::now();
    fn();
    stream().wait();
    t.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }
  std::nth_element(t.begin(), t.begin() + runs / 2, t.end());
  return t[runs / 2];
}

// The transform matrices of F(m x m, 3 x 3), a = m + 2: BT (a x a), G (a x 3), AT (m x a).
// Compile-time constants, so that the transforms below unroll into vector FMAs.
template <int m>
struct F;
template <>
struct F<2> {
  static constexpr int a = 4;
  static constexpr float BT[4][4] = {{1, 0, -1, 0}, {0, 1, 1, 0}, {0, -1, 1, 0}, {0, 1, 0, -1}};
  static constexpr float G[4][3] = {{1, 0, 0}, {.5f, .5f, .5f}, {.5f, -.5f, .5f}, {0, 0, 1}};
  static constexpr float AT[2][4] = {{1, 1, 1, 0}, {0, 1, -1, -1}};
};
template <>
struct F<4> {
  static constexpr int a = 6;
  static constexpr float BT[6][6] = {{4, 0, -5, 0, 1, 0},  {0, -4, -4, 1, 1, 0}, {0, 4, -4, -1, 1, 0},
                                     {0, -2, -1, 2, 1, 0}, {0, 2, -1, -2, 1, 0}, {0, 4, 0, -5, 0, 1}};
  static constexpr float G[6][3] = {{1.f / 4, 0, 0},           {-1.f / 6, -1.f / 6, -1.f / 6},
                                    {-1.f / 6, 1.f / 6, -1.f / 6}, {1.f / 24, 1.f / 12, 1.f / 6},
                                    {1.f / 24, -1.f / 12, 1.f / 6}, {0, 0, 1}};
  static constexpr float AT[4][6] = {{1, 1, 1, 1, 1, 0}, {0, 1, -1, 2, -2, 0}, {0, 1, 1, 4, 4, 0}, {0, 1, -1, 8, -8, 1}};
};

struct Layer {
  const char* name;
  int n, c, k, hw;
};

// Offset of block cb of pixel (n, h, w) in an nChw<B>c tensor of C channels.
template <int B>
inline size_t at(int C, int H, int W, int n, int cb, int h, int w) {
  return ((((size_t)n * (C / B) + cb) * H + h) * W + w) * B;
}

// One forward pass by Winograd F(m x m, 3 x 3) of x (nChw<B>c) and w (oihw), timed step by step
// and whole, against `direct` ms; compared with y_direct when `check`.
template <int m, int B>
void winograd(const Layer& L, const std::vector<float>& x, const std::vector<float>& w, const memory& y_direct,
              double direct, bool check) {
  using T = F<m>;
  constexpr int a = T::a, E = a * a;
  const int N = L.n, C = L.c, K = L.k, H = L.hw, W = L.hw;
  const int th = (H + m - 1) / m, tw = (W + m - 1) / m, tiles = N * th * tw;
  std::vector<float> V(size_t(E) * tiles * C), U(size_t(E) * C * K), M(size_t(E) * tiles * K);
  std::vector<float> y(size_t(N) * K * H * W);

  // Weights: U[e][c][k] = (G g G^T)[e] for each (k, c).
  auto weights = [&] {
#pragma omp parallel for collapse(2) schedule(static)
    for (int c = 0; c < C; ++c)
      for (int k = 0; k < K; ++k) {
        const float* g = &w[(size_t(k) * C + c) * 9];
        float Gg[a][3];
        for (int i = 0; i < a; ++i)
          for (int j = 0; j < 3; ++j) Gg[i][j] = T::G[i][0] * g[j] + T::G[i][1] * g[3 + j] + T::G[i][2] * g[6 + j];
        for (int i = 0; i < a; ++i)
          for (int j = 0; j < a; ++j)
            U[(size_t(i * a + j) * C + c) * K + k] = Gg[i][0] * T::G[j][0] + Gg[i][1] * T::G[j][1] + Gg[i][2] * T::G[j][2];
      }
  };
  // Input: V[e][tile][c] = (B^T d B)[e] for each tile's (a x a) patch d, zero outside the image.
  // B channels at a time: every line below is one vector operation.
  auto input = [&] {
#pragma omp parallel for collapse(2) schedule(static)
    for (int t = 0; t < tiles; ++t)
      for (int cb = 0; cb < C / B; ++cb) {
        const int n = t / (th * tw), i0 = (t / tw) % th * m - 1, j0 = t % tw * m - 1;
        alignas(64) float d[a][a][B], tmp[a][a][B];
        for (int i = 0; i < a; ++i)
          for (int j = 0; j < a; ++j) {
            const int h = i0 + i, ww = j0 + j;
            if (h >= 0 && h < H && ww >= 0 && ww < W) {
              const float* src = &x[at<B>(C, H, W, n, cb, h, ww)];
#pragma omp simd
              for (int v = 0; v < B; ++v) d[i][j][v] = src[v];
            } else {
#pragma omp simd
              for (int v = 0; v < B; ++v) d[i][j][v] = 0.f;
            }
          }
        for (int i = 0; i < a; ++i)
          for (int j = 0; j < a; ++j) {
#pragma omp simd
            for (int v = 0; v < B; ++v) {
              float s = 0;
              for (int l = 0; l < a; ++l) s += T::BT[i][l] * d[l][j][v];
              tmp[i][j][v] = s;
            }
          }
        for (int i = 0; i < a; ++i)
          for (int j = 0; j < a; ++j) {
            float* dst = &V[(size_t(i * a + j) * tiles + t) * C + cb * B];
#pragma omp simd
            for (int v = 0; v < B; ++v) {
              float s = 0;
              for (int l = 0; l < a; ++l) s += tmp[i][l][v] * T::BT[j][l];
              dst[v] = s;
            }
          }
      }
  };
  // Output: y's (m x m) patch of each tile = A^T M A, cut at the image's edge.
  auto output = [&] {
#pragma omp parallel for collapse(2) schedule(static)
    for (int t = 0; t < tiles; ++t)
      for (int kb = 0; kb < K / B; ++kb) {
        const int n = t / (th * tw), i0 = (t / tw) % th * m, j0 = t % tw * m;
        alignas(64) float mm[a][a][B], tmp[m][a][B];
        for (int e = 0; e < E; ++e) {
          const float* src = &M[(size_t(e) * tiles + t) * K + kb * B];
#pragma omp simd
          for (int v = 0; v < B; ++v) mm[e / a][e % a][v] = src[v];
        }
        for (int i = 0; i < m; ++i)
          for (int j = 0; j < a; ++j) {
#pragma omp simd
            for (int v = 0; v < B; ++v) {
              float s = 0;
              for (int l = 0; l < a; ++l) s += T::AT[i][l] * mm[l][j][v];
              tmp[i][j][v] = s;
            }
          }
        for (int i = 0; i < m && i0 + i < H; ++i)
          for (int j = 0; j < m && j0 + j < W; ++j) {
            float* dst = &y[at<B>(K, H, W, n, kb, i0 + i, j0 + j)];
#pragma omp simd
            for (int v = 0; v < B; ++v) {
              float s = 0;
              for (int l = 0; l < a; ++l) s += tmp[i][l][v] * T::AT[j][l];
              dst[v] = s;
            }
          }
      }
  };
  // Products: E matmuls (tiles x C) . (C x K), one primitive.
  const memory::desc v_md({E, tiles, C}, dt::f32, tag::abc), u_md({E, C, K}, dt::f32, tag::abc),
      m_md({E, tiles, K}, dt::f32, tag::abc);
  dnnl::matmul::primitive_desc mpd(dnnl::matmul::desc(v_md, u_md, m_md), engine());
  dnnl::matmul product(mpd);
  memory v_mem(v_md, engine(), V.data()), u_mem(u_md, engine(), U.data()), m_mem(m_md, engine(), M.data());
  auto products = [&] {
    product.execute(stream(), {{DNNL_ARG_SRC, v_mem}, {DNNL_ARG_WEIGHTS, u_mem}, {DNNL_ARG_DST, m_mem}});
  };

  const double tw_ms = median_ms(weights), ti_ms = median_ms(input), tp_ms = median_ms(products),
               to_ms = median_ms(output);
  const double total = median_ms([&] {
    weights();
    input();
    products();
    stream().wait();
    output();
  });
  std::printf("%-9s F(%dx%d,3x3) %-13s %7.2f ms = %.2fx direct (weights %.2f, input %.2f, products %.2f, output %.2f)",
              "", m, m, mpd.impl_info_str(), total, direct / total, tw_ms, ti_ms, tp_ms, to_ms);
  if (check) {
    const float* ref = static_cast<const float*>(y_direct.get_data_handle());
    double err = 0, big = 0;
    for (size_t i = 0; i < y.size(); ++i) {
      err = std::max(err, double(std::fabs(y[i] - ref[i])));
      big = std::max(big, double(std::fabs(ref[i])));
    }
    std::printf("; error %.1e", err / big);
  }
  std::printf("\n");
}

template <int B>
void run(const Layer& L, bool check) {
  const int N = L.n, C = L.c, K = L.k, H = L.hw, W = L.hw;
  const memory::dims x_dims{N, C, H, W}, w_dims{K, C, 3, 3}, y_dims{N, K, H, W};
  const tag act = B == 16 ? tag::nChw16c : tag::nChw8c;

  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0.f, 1.f);
  std::vector<float> x(size_t(N) * C * H * W), w(size_t(K) * C * 9);  // x blocked, w plain oihw
  for (float& v : x) v = normal(rng);
  for (float& v : w) v = normal(rng) * std::sqrt(2.f / (C * 9));

  // --- direct -------------------------------------------------------------------------------
  memory::desc x_md(x_dims, dt::f32, act), y_md(y_dims, dt::f32, act);
  dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct, x_md,
                                    memory::desc(w_dims, dt::f32, tag::any), y_md, {1, 1}, {1, 1}, {1, 1});
  dnnl::convolution_forward::primitive_desc pd(d, engine());
  memory x_mem(x_md, engine(), x.data()), w_plain({w_dims, dt::f32, tag::oihw}, engine(), w.data());
  memory w_mem(pd.weights_desc(), engine()), y_direct(y_md, engine());
  dnnl::reorder(w_plain, w_mem).execute(stream(), w_plain, w_mem);
  dnnl::convolution_forward conv(pd);
  const double direct = median_ms([&] {
    conv.execute(stream(), {{DNNL_ARG_SRC, x_mem}, {DNNL_ARG_WEIGHTS, w_mem}, {DNNL_ARG_DST, y_direct}});
  });
  const double gmacs = double(N) * K * H * W * C * 9 / 1e9;
  std::printf("%-9s (%d,%d,%d,%d)->%d direct %-15s %7.2f ms (%5.1f GFLOP/s)\n", L.name, N, C, H, W, K,
              pd.impl_info_str(), direct, 2 * gmacs / direct * 1e3);

  winograd<2, B>(L, x, w, y_direct, direct, check);
  winograd<4, B>(L, x, w, y_direct, direct, check);
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 0;
  for (int i = 1; i + 1 < argc; i += 2)
    if (std::string(argv[i]) == "--threads") threads = std::atoi(argv[i + 1]);
  if (threads > 0) omp_set_num_threads(threads);
  // The block the direct convolution's layout uses on this machine: ask oneDNN.
  const memory::desc any({128, 64, 14, 14}, dt::f32, tag::any);
  dnnl::convolution_forward::primitive_desc probe(
      dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct, any,
                                      memory::desc({64, 64, 3, 3}, dt::f32, tag::any), any, {1, 1}, {1, 1}, {1, 1}),
      engine());
  const int block = probe.src_desc() == memory::desc({128, 64, 14, 14}, dt::f32, tag::nChw16c) ? 16 : 8;
  std::printf("%d threads, %d-channel blocks\n", omp_get_max_threads(), block);
  const Layer layers[] = {{"nin conv2", 128, 64, 128, 14}, {"nin conv3", 128, 128, 128, 7},
                          {"resnet b1", 128, 16, 16, 28}, {"resnet b2", 128, 32, 32, 14}};
  for (const Layer& L : layers) block == 16 ? run<16>(L, true) : run<8>(L, true);
}
