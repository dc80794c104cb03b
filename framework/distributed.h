// Data-parallel training across processes: what a Trainer asks of the other ranks. One process
// is the communicator of one rank, whose calls do nothing; `mpirun -np N onebyone train ...`
// gives the MPI one (Open MPI), where every rank runs the same steps on its share of each
// global batch and the gradients are summed across ranks in one call a step.
//
//   Communicator& world = process_world();      // MPI under mpirun, else one process
//   world.sum(gradients.data(), gradients.count());
//
// Every call is collective: each rank makes the same calls in the same order. A call that the
// other ranks do not join within the timeout (a rank died or hangs) ends every process with a
// message naming the rank that stopped answering, never a silent hang.
#pragma once

#include <cstdint>
#include <string>

namespace obo {

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // Elementwise sums across ranks, in place, the same on every rank.
  virtual void sum(float* data, int64_t n) = 0;
  virtual void sum(double* data, int64_t n) = 0;
  // Rank 0's values to every rank.
  virtual void broadcast(float* data, int64_t n) = 0;
  // "MPI (Open MPI 4.1.4), 2 ranks", or "one process".
  virtual std::string describe() const = 0;
};

// Rank 0 of 1: sums and broadcasts leave the data as it is.
Communicator& single_process();

// The processes of this run: MPI's world when launched by mpirun (and built with MPI), else
// single_process(). Launched by mpirun with more than one rank in a build without MPI, an error
// that says so. MPI is started on first use and finished at exit. Every collective call waits at
// most ONEBYONE_RANK_TIMEOUT seconds (default 300) for the other ranks.
Communicator& process_world();

// Whether this process was started by an MPI launcher (mpirun sets OMPI_COMM_WORLD_SIZE).
bool launched_by_mpirun();

// This rank's share of a global batch of `batch` examples: `count` examples from `first`. The
// first batch % ranks ranks take one more; every rank takes at least one, or it is an error.
struct Share {
  int64_t first = 0, count = 0;
};
Share share_of(int64_t batch, int rank, int ranks);

}  // namespace obo
