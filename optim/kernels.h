// The kernel interface of the optimizers, implemented for the CPU (optim/cpu/) and CUDA (optim/cuda/), following
// tensor/backend.h and layers/kernels.h: the optimizers (optimizer.cpp) validate and allocate, the kernels may assume
// contiguous tensors of one floating dtype (f32 or f64) on one device, each state tensor shaped like its parameter.
//
// Every call updates a whole list of tensors at once: on CUDA that is one launch over all parameters (a multi-tensor
// kernel reading a device table of pointers and sizes), however many parameters there are.
#pragma once

#include <cstdint>
#include <vector>

#include "optim/update_rules.h"
#include "tensor/tensor.h"

namespace edat::optim {

// One fused update: entry i of each list belongs to parameter i.
struct TensorLists {
  std::vector<Tensor> params;       // updated in place
  std::vector<Tensor> grads;        // read only
  std::vector<Tensor> m;            // first moments: SGD's momentum buffers (empty without momentum), Adam's exp_avg
  std::vector<Tensor> v;            // second moments: Adam's exp_avg_sq; SGD: empty
  std::vector<std::int64_t> steps;  // per parameter, the number of this update (1 at its first)
};

// Counters of the CUDA kernels since the process started, for tests and benchmarks (the CPU reports zeros).
struct KernelStats {
  std::int64_t step_launches = 0;  // optimizer-step kernel launches (one per step() however many parameters)
  std::int64_t table_uploads = 0;  // uploads of a parameter/state pointer table
  std::int64_t grad_uploads = 0;   // uploads of a gradient pointer array
};

class OptimKernels {
 public:
  virtual ~OptimKernels() = default;
  virtual KernelStats stats() const { return {}; }

  virtual void sgd_step(const TensorLists& lists, const SgdHyper& hyper) = 0;
  virtual void adam_step(const TensorLists& lists, const AdamHyper& hyper) = 0;

  // ---- gradient clipping by global norm ----
  // total (0-dim f64, on the tensors' device) = the sum over all tensors and elements of t^2, accumulated in f64.
  virtual void sum_of_squares(const std::vector<Tensor>& tensors, Tensor& total) = 0;
  // Every t *= min(1, max_norm / (sqrt(total) + 1e-6)), with total read where it lies (no device-to-host wait).
  virtual void scale_by_norm(const std::vector<Tensor>& tensors, const Tensor& total, double max_norm) = 0;
};

// The kernels for `device`; throws edat::Error like tensor's backend() when CUDA is not built or not present.
OptimKernels& optim_kernels(Device device);

}  // namespace edat::optim
