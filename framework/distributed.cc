#include "framework/distributed.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <memory>
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
// So that a rank that never arrives can be named, every rank tells its right neighbour, before
// each call, how many calls it has reached (a message of 8 bytes, drained after the call): on a
// timeout, a rank names its left neighbour if that one has not reached the call.
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
  }
  ~MpiWorld() override {
    drain_arrivals();
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
  static constexpr int kArrivedTag = 7101;

  template <typename Start>
  void collective(int64_t n, const Start& start) {
    if (n > std::numeric_limits<int>::max()) fail("MPI: {} values in one call, more than MPI's int counts", n);
    const Clock::time_point begin = Clock::now();
    ++calls_;
    if (size_ > 1) {
      // 8 bytes, sent eagerly and received by the neighbour's drain_arrivals(); a slot is reused
      // only 64 calls later, long after its note left.
      int64_t& note = sent_[calls_ % 64];
      note = calls_;
      MPI_Request request;
      MPI_Isend(&note, 1, MPI_INT64_T, right_, kArrivedTag, MPI_COMM_WORLD, &request);
      MPI_Request_free(&request);
    }
    MPI_Request request;
    start(static_cast<int>(n), &request);
    const auto deadline = begin + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(timeout_));
    for (int done = 0, polls = 0;; ++polls) {
      MPI_Test(&request, &done, MPI_STATUS_IGNORE);
      if (done) break;
      if (Clock::now() > deadline) give_up();
      if (polls > 10000) std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
    drain_arrivals();
    seconds_ += std::chrono::duration<double>(Clock::now() - begin).count();
  }

  // How far the left neighbour has got, from the notes it sent.
  void drain_arrivals() {
    for (int waiting = 1; size_ > 1;) {
      MPI_Status status;
      MPI_Iprobe(left_, kArrivedTag, MPI_COMM_WORLD, &waiting, &status);
      if (!waiting) break;
      MPI_Recv(&heard_, 1, MPI_INT64_T, left_, kArrivedTag, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    }
  }

  [[noreturn]] void give_up() {
    drain_arrivals();
    const std::string who =
        heard_ < calls_ ? fmt::format("rank {} has not reached it (it reached call {}): it has died or hangs", left_, heard_)
                        : fmt::format("rank {} reached it; another rank has not (its right neighbour names it)", left_);
    std::fprintf(stderr, "error: rank %d waited %.0f s for the other ranks in collective call %lld: %s. Stopping every "
                         "rank (ONEBYONE_RANK_TIMEOUT sets the wait).\n",
                 rank_, timeout_, static_cast<long long>(calls_), who.c_str());
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, 1);
    std::_Exit(1);
  }

  int rank_ = 0, size_ = 1, left_ = 0, right_ = 0;
  double timeout_ = 300;
  int64_t calls_ = 0, heard_ = 0;
  int64_t sent_[64] = {};
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
