// What the fuzzers feed their inputs to: each function takes any bytes and must end in a clear
// error (obo::Error, swallowed here) or in success; a crash, a sanitizer report, a hang, a giant
// allocation or any other exception is a finding. tests/fuzz_regression_test.cc replays every
// input that ever was one (tests/fuzz/regressions/<target>/) through the same functions.
#pragma once

#include <cstdint>
#include <string>

namespace obo::fuzz {

// What callers set first (obo::set_memory_limit): a net or a run that needs more is refused by
// the graph's memory check, as a small machine would refuse it. The fuzzers look for crashes,
// not for nets too large to build.
constexpr int64_t kMemoryLimit = int64_t{512} << 20;

// Net and solver text: parsed, then a net is built, run forward and backward; a solver is
// resolved and its schedule evaluated.
void model(const std::string& bytes);
// A checkpoint file, or (first byte odd) a checkpoint payload given its header: parsed, then a
// run is resumed from it on a few synthetic digits for one step.
void checkpoint(const std::string& bytes);
// IDX image and label files.
void idx(const std::string& bytes);
// PGM and PNG images.
void image(const std::string& bytes);

}  // namespace obo::fuzz
