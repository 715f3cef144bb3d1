// Communicator: the processes of one data-parallel training run and the collectives they need, on an existing
// distributed engine: MPI (launch, coordination, CPU tensors) and NCCL (CUDA tensors, built when found).
//
//   dist::Communicator& comm = dist::world();   // MPI's when started by mpirun, else this process alone
//   comm.rank(), comm.size(), comm.local_rank() // local_rank: among the processes of this machine (picks the GPU)
//   comm.all_reduce(values, ReduceOp::sum, "the step's batch sizes");
//   auto pending = comm.start_sum(bucket, "gradient bucket 3");  ...  pending->wait();
//
// Single process: without mpirun (no OMPI_COMM_WORLD_SIZE / PMIX_RANK / PMI_SIZE in the environment), or built
// without MPI (EDAT_MPI=OFF), world() is a communicator of one whose collectives do nothing, so training runs as it
// always did. A build without MPI started by mpirun with several processes refuses to run (each would train alone
// and write the same run folder).
//
// Timeouts: every wait is bounded (set_timeout, 600 s by default): a process that died or hangs makes the others
// abort the job with a message naming the collective, never wait forever. An error on one process must end all of
// them: abort() says why and takes the job down (MPI_Abort).
#pragma once
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace edat::dist {

enum class ReduceOp { sum, max, min };

// A reduction started by start_sum, in flight until wait() returns.
class PendingReduction {
 public:
  virtual ~PendingReduction() = default;
  virtual bool test() = 0;  // has it finished? (also lets MPI progress it)
  virtual void wait() = 0;  // until finished, or the timeout aborts the job
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual int local_rank() const = 0;
  bool distributed() const { return size() > 1; }
  // "rank 1 of 4", for messages.
  std::string who() const { return "rank " + std::to_string(rank()) + " of " + std::to_string(size()); }

  // Blocking collectives; `what` names them in timeout messages.
  virtual void all_reduce(std::vector<double>& values, ReduceOp op, const char* what) = 0;
  virtual void broadcast(void* bytes, std::size_t size, int root, const char* what) = 0;
  // Every process's `mine`, concatenated in rank order (lengths may differ).
  virtual std::vector<double> all_gather(const std::vector<double>& mine, const char* what) = 0;
  // Starts summing `buffer` (f32 or f64, contiguous; CPU through MPI, CUDA through NCCL) across processes in place.
  virtual std::unique_ptr<PendingReduction> start_sum(const Tensor& buffer, const char* what) = 0;

  // Ends every process of the job after printing `message` (this process's part of it) on stderr.
  [[noreturn]] virtual void abort(const std::string& message) = 0;

  void set_timeout(double seconds) { timeout_seconds_ = seconds; }
  double timeout() const { return timeout_seconds_; }

  // Helpers over the collectives above.
  void broadcast(Tensor& tensor, int root, const char* what);          // any device, in place
  void broadcast(std::string& text, int root, const char* what);
  void all_reduce_sum(Tensor& tensor, const char* what);               // any device, in place, blocking
  double sum(double value, const char* what);
  bool any(bool value, const char* what);

 private:
  double timeout_seconds_ = 600;
};

// The process's communicator (made on first use; MPI is initialised then and finalised at exit).
Communicator& world();

// What the environment says about the launcher: the size of the job mpirun (OpenMPI, PMIx or a PMI launcher)
// started, or 0 when it was not started by one.
int launcher_world_size();

}  // namespace edat::dist
