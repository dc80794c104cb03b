// One libFuzzer target; FUZZ_TARGET names the function of targets.h it feeds.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "framework/graph.h"
#include "tests/fuzz/targets.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  obo::set_memory_limit(obo::fuzz::kMemoryLimit);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    obo::fuzz::FUZZ_TARGET(std::string(reinterpret_cast<const char*>(data), size));
  } catch (const std::exception& e) {
    // Every bad input must end in obo::Error with a message a user can act on.
    std::fprintf(stderr, "finding: an exception other than obo::Error: %s\n", e.what());
    std::abort();
  }
  return 0;
}
