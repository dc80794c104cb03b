// Fastest (framework/fastest.h): candidates take turns, the fastest is kept, and the choice is
// remembered for its key.
#include <catch2/catch.hpp>

#include <chrono>
#include <thread>
#include <vector>

#include "framework/fastest.h"

using obo::Fastest;

TEST_CASE("Fastest runs each candidate in turn, keeps the one with the smallest time, and remembers it for the key",
          "[fastest]") {
  const std::vector<double> seconds = {3e-3, 1e-3, 2e-3};  // candidate 1 is the fastest
  Fastest choice("fastest_test: three candidates", 3);
  std::vector<size_t> ran;
  while (!choice.decided()) {
    REQUIRE(ran.size() < 100);
    ran.push_back(choice.next());
    choice.took(ran.back(), seconds[ran.back()]);
  }
  CHECK(ran == std::vector<size_t>{0, 1, 2, 0, 1, 2});
  CHECK(choice.next() == 1);
  // Its smallest time counts, not its last or its mean: a slow first call does not lose.
  Fastest noisy("fastest_test: a slow first call", 2);
  noisy.took(0, 9e-3), noisy.took(1, 2e-3), noisy.took(0, 1e-3), noisy.took(1, 2e-3);
  REQUIRE(noisy.decided());
  CHECK(noisy.next() == 0);
  // Remembered per key: a new chooser for the same key starts decided; another key measures.
  CHECK(Fastest("fastest_test: three candidates", 3).decided());
  CHECK(Fastest("fastest_test: three candidates", 3).next() == 1);
  CHECK_FALSE(Fastest("fastest_test: another key", 3).decided());
  // operator() times the calls itself.
  Fastest timed("fastest_test: timed by operator()", 2);
  while (!timed.decided())
    timed([](size_t i) {
      if (i == 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    });
  CHECK(timed.next() == 1);
  // One candidate, or only(): nothing to measure.
  CHECK(Fastest("fastest_test: one", 1).decided());
  CHECK(Fastest::only(1).next() == 1);
}
