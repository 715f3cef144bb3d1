// GradientReducer: sums the gradients of every process's replica before the optimizer step, bucket by bucket,
// each bucket's reduction started as soon as backward has made its last gradient (autograd::GradReadyHook), so that
// communication overlaps the rest of backward, as PyTorch's DistributedDataParallel does.
//
//   GradientReducer reducer(comm, model.trainable_parameters());
//   { auto hook = reducer.hook(); (loss * share).backward(); }   // share: this process's part of the global batch
//   reducer.finish();                                            // every .grad now holds the sum over processes
//
// Buckets hold about bucket_bytes of parameters in reverse order of registration (roughly the order backward makes
// their gradients) and are started in that order on every process, which MPI needs. A parameter backward gave no
// gradient to counts as zeros. Each bucket is one flat f32/f64 buffer on the parameters' device: MPI_Iallreduce on
// the CPU, NCCL on a GPU (dist/communicator.h).
#pragma once
#include <cstddef>
#include <memory>
#include <unordered_map>
#include <vector>

#include "autograd/node.h"
#include "dist/communicator.h"

namespace edat::dist {

class GradientReducer {
 public:
  static constexpr std::size_t default_bucket_bytes = 25u << 20;  // DDP's default
  GradientReducer(Communicator& comm, std::vector<Tensor> parameters, std::size_t bucket_bytes = default_bucket_bytes);

  // Reports gradients as backward makes them; hold it for the duration of backward().
  std::unique_ptr<autograd::GradReadyHook> hook();
  // Starts what backward did not, waits for every bucket, and writes the sums into the parameters' .grad.
  void finish();

  std::size_t buckets() const { return buckets_.size(); }
  // Seconds spent in finish() waiting for reductions still in flight: the communication that did not overlap.
  double waiting_seconds() const { return waiting_seconds_; }

 private:
  struct Bucket {
    std::vector<std::size_t> parameters;  // indices into parameters_
    std::vector<Tensor> slots;            // each parameter's place in `flat` (a view of its storage)
    Tensor flat;
    std::size_t ready = 0;
    std::unique_ptr<PendingReduction> pending;
  };
  void on_ready(std::size_t parameter);
  void start_ready_buckets();  // in order: bucket k starts only after buckets 0..k-1

  Communicator& comm_;
  std::vector<Tensor> parameters_;
  std::vector<Bucket> buckets_;
  std::vector<std::pair<std::size_t, std::size_t>> place_;  // parameter -> (bucket, slot)
  std::vector<bool> reported_;
  std::unordered_map<const TensorImpl*, std::size_t> index_;
  std::size_t next_to_start_ = 0;
  double waiting_seconds_ = 0;
};

// x summed over the processes, differentiably: the backward sums the gradients over the processes too (each process's
// loss depends on every process's x). For --sync-bn (layers/functional.h, set_batch_norm_sync).
Tensor all_reduce_sum(const Tensor& x, Communicator& comm);

}  // namespace edat::dist
