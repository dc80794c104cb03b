// Two yardsticks of this machine, printed next to every benchmark table:
//   - its FP32 matrix-multiply peak as oneDNN reaches it: dnnl_sgemm on square matrices, the best
//     of several runs, in GFLOP/s (the yardstick for achieved GFLOP/s in training);
//   - what one AVX-to-SSE transition costs: a legacy-SSE instruction run while the upper halves
//     of the YMM registers are dirty. oneDNN 2.6's jit:avx2 pooling kernels run a legacy `movq`
//     between blocks of a row (fixed upstream by oneDNN pull request 1457), so they pay this
//     several times per output row. Tens of cycles on bare-metal Intel; on some virtual machines
//     hundreds of nanoseconds, which makes every AVX2 max-pool there several times slower.
//   build/sgemm_peak [--size 3072] [--json]
#include <dnnl.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Nanoseconds of one AVX-to-SSE transition beyond the two instructions themselves; -1 where the
// question does not arise (no x86-64 AVX).
double avx_sse_transition_ns() {
#if defined(__x86_64__)
  if (!__builtin_cpu_supports("avx")) return -1;
  const long n = 200000;
  double best_dirty = 1e9, best_clean = 1e9;
  for (int run = 0; run < 3; ++run) {
    auto start = std::chrono::steady_clock::now();
    for (long i = 0; i < n; ++i)  // dirty the upper halves, then a legacy-SSE add
      __asm__ volatile("vaddps %%ymm4, %%ymm4, %%ymm4\n\taddps %%xmm5, %%xmm5" ::: "xmm4", "xmm5");
    __asm__ volatile("vzeroupper");
    best_dirty = std::min(best_dirty, seconds_since(start));
    start = std::chrono::steady_clock::now();
    for (long i = 0; i < n; ++i)  // the same, with the upper halves cleared in between
      __asm__ volatile("vaddps %%ymm4, %%ymm4, %%ymm4\n\tvzeroupper\n\taddps %%xmm5, %%xmm5" ::: "xmm4", "xmm5");
    best_clean = std::min(best_clean, seconds_since(start));
  }
  return std::max(0.0, (best_dirty - best_clean) / n * 1e9);
#else
  return -1;
#endif
}

}  // namespace

int main(int argc, char** argv) {
  int64_t n = 3072;
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--json")) json = true;
    if (!std::strcmp(argv[i], "--size") && i + 1 < argc) n = std::stoll(argv[++i]);
  }
  std::vector<float> a(n * n, 1.f), b(n * n, 0.5f), c(n * n, 0.f);
  double best = 0;
  for (int run = 0; run < 6; ++run) {
    const auto start = std::chrono::steady_clock::now();
    if (dnnl_sgemm('N', 'N', n, n, n, 1.f, a.data(), n, b.data(), n, 0.f, c.data(), n) != dnnl_success) return 1;
    if (run > 0) best = std::max(best, 2.0 * n * n * n / seconds_since(start) * 1e-9);  // run 0 warms up
  }
  const double transition = avx_sse_transition_ns();
  if (json)
    std::printf("{\"sgemm_size\": %lld, \"sgemm_gflops\": %.1f, \"avx_sse_transition_ns\": %.1f}\n",
                static_cast<long long>(n), best, transition);
  else
    std::printf("sgemm %lldx%lld: %.1f GFLOP/s; one AVX-to-SSE transition: %.1f ns\n", static_cast<long long>(n),
                static_cast<long long>(n), best, transition);
  return 0;
}
