#include "framework/distributed.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <thread>

#include "framework/error.h"

#ifdef ONEBYONE_MPI
#include <mpi.h>
#endif

namespace obo {
namespace {

using Clock = std::chrono::steady_clock;

class SingleProcess : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  void sum(float*, int64_t) override {}
  void sum(double*, int64_t) override {}
  void broadcast(float*, int64_t) override {}
  std::string describe() const override { return "one process"; }
};

#ifdef ONEBYONE_MPI

// MPI's world. Each collective call is started non-blocking and waited for with a deadline.
// So that a rank that stops answering can be named, a rank that has waited a beat in a call
// tells its right neighbour so (8 bytes: the call's number), and again every beat while it
// waits. A dead, stopped or hung rank sends nothing: on a timeout, a rank names its left
// neighbour if it has heard nothing from it for three beats; if it has, that neighbour waits
// too, and the silent rank is named by its own right neighbour. A step that waits less than a
// beat sends no note at all.
class MpiWorld : public Communicator {
 public:
  MpiWorld() {
    int provided = 0;
    MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
    left_ = (rank_ + size_ - 1) % size_;
    right_ = (rank_ + 1) % size_;
    if (const char* t = std::getenv("ONEBYONE_RANK_TIMEOUT")) timeout_ = std::atof(t);
    if (!(timeout_ > 0)) timeout_ = 300;
    beat_ = std::min(1.0, timeout_ / 10);
    sending_.fill(MPI_REQUEST_NULL);
  }
  ~MpiWorld() override {
    for (MPI_Request& r : sending_)
      if (r != MPI_REQUEST_NULL) MPI_Request_free(&r);
    hear();
    MPI_Finalize();
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  void sum(float* data, int64_t n) override {
    collective(n, [&](int count, MPI_Request* r) {
      MPI_Iallreduce(MPI_IN_PLACE, data, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, r);
    });
  }
  void sum(double* data, int64_t n) override {
    collective(n, [&](int count, MPI_Request* r) {
      MPI_Iallreduce(MPI_IN_PLACE, data, count, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD, r);
    });
  }
  void broadcast(float* data, int64_t n) override {
    collective(n, [&](int count, MPI_Request* r) { MPI_Ibcast(data, count, MPI_FLOAT, 0, MPI_COMM_WORLD, r); });
  }
  std::string describe() const override {
    char version[MPI_MAX_LIBRARY_VERSION_STRING];
    int length = 0;
    MPI_Get_library_version(version, &length);
    std::string name(version, length);
    name = name.substr(0, name.find(','));
    return fmt::format("MPI ({}), {} ranks", name, size_);
  }

 private:
  static constexpr int kWaitingTag = 7101;
  using Seconds = std::chrono::duration<double>;
  static Clock::duration span(double seconds) { return std::chrono::duration_cast<Clock::duration>(Seconds(seconds)); }

  template <typename Start>
  void collective(int64_t n, const Start& start) {
    if (n > std::numeric_limits<int>::max()) fail("MPI: {} values in one call, more than MPI's int counts", n);
    const Clock::time_point begin = Clock::now();
    ++calls_;
    MPI_Request request;
    start(static_cast<int>(n), &request);
    Clock::time_point deadline = begin + span(timeout_), next_beat = begin + span(beat_);
    bool extended = false;
    for (int done = 0, polls = 0;; ++polls) {
      MPI_Test(&request, &done, MPI_STATUS_IGNORE);
      if (done) break;
      const Clock::time_point now = Clock::now();
      if (size_ > 1 && now >= next_beat) {
        tell_waiting();
        hear();
        next_beat = now + span(beat_);
      }
      if (now > deadline) {
        // A neighbour heard from lately may have come late rather than be waiting: three beats
        // more show which.
        if (!extended && now - heard_at_ < span(3 * beat_)) {
          deadline = now + span(3 * beat_);
          extended = true;
        } else {
          give_up(now);
        }
      }
      if (polls > 10000) std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
    hear();
  }

  // To the right neighbour: "I wait in call calls_". A slot whose last note has not left yet is
  // skipped (the next beat comes soon).
  void tell_waiting() {
    const int slot = beats_++ % kSlots;
    int done = 1;
    if (sending_[slot] != MPI_REQUEST_NULL) MPI_Test(&sending_[slot], &done, MPI_STATUS_IGNORE);
    if (!done) return;
    notes_[slot] = calls_;
    MPI_Isend(&notes_[slot], 1, MPI_INT64_T, right_, kWaitingTag, MPI_COMM_WORLD, &sending_[slot]);
  }

  // Every note from the left neighbour that has arrived: which call it waits in, and when heard.
  void hear() {
    for (int waiting = 1; size_ > 1;) {
      MPI_Iprobe(left_, kWaitingTag, MPI_COMM_WORLD, &waiting, MPI_STATUS_IGNORE);
      if (!waiting) break;
      MPI_Recv(&heard_, 1, MPI_INT64_T, left_, kWaitingTag, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      heard_at_ = Clock::now();
    }
  }

  [[noreturn]] void give_up(Clock::time_point now) {
    hear();
    std::string who;
    if (now - heard_at_ >= span(3 * beat_))
      who = fmt::format("rank {} has died or hangs (nothing from it for {:.1f} s, while a waiting rank says so every {:.1f} s)",
                        left_, 3 * beat_, beat_);
    else if (heard_ == calls_)
      who = fmt::format("rank {} waits in it too; the rank that does not answer is named by its right neighbour", left_);
    else
      who = fmt::format("rank {} waits in call {}: the ranks have made different calls", left_, heard_);
    std::fprintf(stderr, "error: rank %d waited %.0f s for the other ranks in collective call %lld: %s. Stopping every "
                         "rank (ONEBYONE_RANK_TIMEOUT sets the wait).\n",
                 rank_, timeout_, static_cast<long long>(calls_), who.c_str());
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, 1);
    std::_Exit(1);
  }

  static constexpr int kSlots = 8;
  int rank_ = 0, size_ = 1, left_ = 0, right_ = 0;
  double timeout_ = 300, beat_ = 1;
  int64_t calls_ = 0, heard_ = 0, beats_ = 0;
  Clock::time_point heard_at_;  // never: the clock's epoch
  int64_t notes_[kSlots] = {};
  std::array<MPI_Request, kSlots> sending_;
};

#endif

}  // namespace

Communicator& single_process() {
  static SingleProcess one;
  return one;
}

bool launched_by_mpirun() { return std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr; }

Communicator& process_world() {
  if (!launched_by_mpirun()) return single_process();
#ifdef ONEBYONE_MPI
  static MpiWorld world;
  return world;
#else
  const int ranks = std::atoi(std::getenv("OMPI_COMM_WORLD_SIZE"));
  if (ranks > 1)
    fail("this onebyone was built without MPI (-DONEBYONE_MPI=OFF), so it trains in one process, not {}: build it with "
         "Open MPI (libopenmpi-dev) to train across processes",
         ranks);
  return single_process();
#endif
}

Share share_of(int64_t batch, int rank, int ranks) {
  if (batch < ranks)
    fail("a global batch of {} images cannot be shared by {} processes: each needs at least one (raise batch_size or "
         "run fewer processes)",
         batch, ranks);
  const int64_t base = batch / ranks, extra = batch % ranks;
  return {rank * base + std::min<int64_t>(rank, extra), base + (rank < extra ? 1 : 0)};
}

}  // namespace obo
