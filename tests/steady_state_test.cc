// A steady-state training step creates no primitive and allocates nothing outside oneDNN. This
// test is its own executable: it replaces malloc, its relatives and operator new for the whole
// process and sorts every allocation by its caller: inside libdnnl, or anywhere else (our code,
// the C++ runtime, OpenMP). oneDNN 2.6 allocates inside dnnl_primitive_execute itself (hash maps
// of its execution context, std::function in parallel_nd); that count is measured and printed.
#include <catch2/catch.hpp>

#include <link.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <new>

#include "framework/data/dataset.h"
#include "framework/dnnl_seam.h"
#include "framework/optimizer.h"
#include "tests/test_util.h"

namespace {

uintptr_t g_dnnl_lo = 0, g_dnnl_hi = 0;  // libdnnl's loaded segments
std::atomic<long> g_ours{0}, g_onednn{0};

void count(void* caller) {
  const auto a = reinterpret_cast<uintptr_t>(caller);
  ++(a >= g_dnnl_lo && a < g_dnnl_hi ? g_onednn : g_ours);
}

int find_dnnl(dl_phdr_info* info, size_t, void*) {
  if (!info->dlpi_name || !std::strstr(info->dlpi_name, "libdnnl")) return 0;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& p = info->dlpi_phdr[i];
    if (p.p_type != PT_LOAD) continue;
    const uintptr_t lo = info->dlpi_addr + p.p_vaddr, hi = lo + p.p_memsz;
    g_dnnl_lo = g_dnnl_lo ? std::min(g_dnnl_lo, lo) : lo;
    g_dnnl_hi = std::max(g_dnnl_hi, hi);
  }
  return 1;
}

}  // namespace

extern "C" {
void* __libc_malloc(size_t);
void* __libc_calloc(size_t, size_t);
void* __libc_realloc(void*, size_t);
void* __libc_memalign(size_t, size_t);
void __libc_free(void*);

void* malloc(size_t n) {
  count(__builtin_return_address(0));
  return __libc_malloc(n);
}
void* calloc(size_t n, size_t size) {
  count(__builtin_return_address(0));
  return __libc_calloc(n, size);
}
void* realloc(void* p, size_t n) {
  count(__builtin_return_address(0));
  return __libc_realloc(p, n);
}
void* memalign(size_t alignment, size_t n) {
  count(__builtin_return_address(0));
  return __libc_memalign(alignment, n);
}
void* aligned_alloc(size_t alignment, size_t n) {
  count(__builtin_return_address(0));
  return __libc_memalign(alignment, n);
}
int posix_memalign(void** out, size_t alignment, size_t n) {
  count(__builtin_return_address(0));
  *out = __libc_memalign(alignment, n);
  return *out ? 0 : ENOMEM;
}
void free(void* p) { __libc_free(p); }
}

// operator new counted at its own caller, not at libstdc++'s malloc call.
void* operator new(size_t n) {
  count(__builtin_return_address(0));
  if (void* p = __libc_malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](size_t n) {
  count(__builtin_return_address(0));
  if (void* p = __libc_malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { __libc_free(p); }
void operator delete[](void* p) noexcept { __libc_free(p); }
void operator delete(void* p, size_t) noexcept { __libc_free(p); }
void operator delete[](void* p, size_t) noexcept { __libc_free(p); }

using namespace obo;
using namespace obo::test;

TEST_CASE("a steady-state training step creates no primitive and allocates nothing outside oneDNN", "[steady]") {
  dl_iterate_phdr(find_dnnl, nullptr);
  REQUIRE(g_dnnl_hi > g_dnnl_lo);
  const std::string model = GENERATE("nin", "nin-fc", "inception");
  INFO(model);
  const Dataset train = split_off(load_dataset(mnist_dir(), "train"), 512).first;
  Graph g(read_net(model_path(model)), GraphOptions::seeded(1));
  g.set_batch(64);
  onebyone::SolverParameter solver;
  solver.set_optimizer(onebyone::SolverParameter::ADAM);
  auto optimizer = make_optimizer(solver, g);
  const std::vector<int64_t> order = epoch_order(train.count, 1, 0);
  Tensor& images = g.value("data");
  Tensor& labels = g.value("label");
  auto step = [&](int64_t i) {  // what Trainer::run does per batch
    fill_batch(train, order, (i % 8) * 64, {2, 1, 0}, images, labels);
    g.forward(Context::training(1, static_cast<uint64_t>(i)));
    g.backward();
    optimizer->step(i);
  };
  for (int64_t i = 0; i < 3; ++i) step(i);  // warm-up: OpenMP's threads, oneDNN's first touches
  const long ours = g_ours.load(), onednn = g_onednn.load();
  const int64_t primitives = dnn::primitives_created();
  constexpr int kSteps = 5;
  for (int64_t i = 3; i < 3 + kSteps; ++i) step(i);
  const long ours_during = g_ours.load() - ours, onednn_during = g_onednn.load() - onednn;
  const int64_t primitives_during = dnn::primitives_created() - primitives;
  WARN(model << ": allocations per step outside oneDNN " << ours_during / kSteps << ", inside oneDNN's execute "
             << onednn_during / kSteps);
  CHECK(ours_during == 0);
  CHECK(primitives_during == 0);
  // The counters see what they count: a reshape creates primitives and allocates.
  g.set_batch(32);
  CHECK(dnn::primitives_created() > primitives);
  CHECK(g_ours.load() > ours);
}
