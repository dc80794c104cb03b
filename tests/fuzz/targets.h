// What the fuzzers feed their inputs to: each function takes any bytes and must end in a clear
// error (obo::Error, caught here and reported) or in success; a crash, a sanitizer report, a hang,
// a giant allocation or any other exception is a finding. tests/fuzz_regression_test.cc replays
// every input that ever was one (tests/fuzz/regressions/<target>/), and the seed corpora, through
// the same functions, and holds each to the outcome it must have.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace obo::fuzz {

// What callers set first (obo::set_memory_limit): a net or a run that needs more is refused by
// the graph's memory check, as a small machine would refuse it. The fuzzers look for crashes,
// not for nets too large to build.
constexpr int64_t kMemoryLimit = int64_t{512} << 20;

// What became of an input, one line per thing tried with it: "net: accepted", or
// "solver: refused: <the error's message>".
using Outcome = std::vector<std::string>;

// Net and solver text: parsed, then a net is built, run forward and backward; a solver is
// resolved and its schedule evaluated.
Outcome model(const std::string& bytes);
// After a first byte that says which: a checkpoint file (even), or a checkpoint payload given its
// header (odd); parsed, then a run is resumed from it on a few synthetic digits for one step.
Outcome checkpoint(const std::string& bytes);
// IDX image and label files.
Outcome idx(const std::string& bytes);
// PGM and PNG images.
Outcome image(const std::string& bytes);
// ONNX models: imported, then the net built for inference and run once on zeros.
Outcome onnx(const std::string& bytes);

}  // namespace obo::fuzz
