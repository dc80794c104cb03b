// This machine's FP32 matrix-multiply peak as oneDNN reaches it: dnnl_sgemm on square matrices,
// the best of several runs, in GFLOP/s. The yardstick for achieved GFLOP/s in training.
//   build/sgemm_peak [--size 3072] [--json]
#include <dnnl.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

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
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (run > 0) best = std::max(best, 2.0 * n * n * n / s * 1e-9);  // run 0 warms up
  }
  if (json)
    std::printf("{\"sgemm_size\": %lld, \"sgemm_gflops\": %.1f}\n", static_cast<long long>(n), best);
  else
    std::printf("sgemm %lldx%lld: %.1f GFLOP/s\n", static_cast<long long>(n), static_cast<long long>(n), best);
  return 0;
}
