// Fastest: a choice between interchangeable ways to compute the same thing (the same results,
// a different speed on each CPU), made by timing them on the first real calls.
//
// Contract: the candidates are numbered 0..n-1 and give identical outputs, so which one runs is
// never visible except in time. `next()` says which to run; the caller times it and reports it
// with `took()` (or lets operator() do both). Candidates take turns (0, 1, ..., 0, 1, ...) for
// kRounds calls each; then the one with the smallest single time is kept for good, and
// remembered for the key in this process, so that a later layer with the same key (shape, layout
// and window, say) starts decided. A process's CPU and ISA never change, so the memory is per
// ISA too. Nothing is measured outside the caller's own calls: no scratch memory, no extra passes.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

namespace obo {

class Fastest {
 public:
  static constexpr size_t kRounds = 2;  // the smaller of two runs: the first may touch fresh pages

  Fastest() = default;  // candidate 0, decided
  Fastest(std::string key, size_t candidates);
  static Fastest only(size_t candidate);  // decided for `candidate`, measuring nothing

  bool decided() const { return chosen_ >= 0; }
  // The candidate to run now: the kept one, or the next in turn while measuring.
  size_t next() const { return decided() ? static_cast<size_t>(chosen_) : calls_ % times_.size(); }
  // Reports that candidate `i` (what next() said) took `seconds`.
  void took(size_t i, double seconds);

  // Runs run(i) for the candidate next() names, timing it while undecided.
  template <typename Run>
  void operator()(Run&& run) {
    const size_t i = next();
    if (decided()) return run(i);
    const auto start = std::chrono::steady_clock::now();
    run(i);
    took(i, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }

 private:
  std::string key_;
  std::vector<double> times_;  // the smallest time of each candidate so far
  size_t calls_ = 0;
  int chosen_ = 0;  // -1 while measuring
};

}  // namespace obo
