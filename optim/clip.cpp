#include "optim/clip.h"

#include <cmath>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "optim/kernels.h"
#include "tensor/factory.h"

namespace edat::optim {

Tensor clip_grad_norm(const std::vector<Tensor>& parameters, double max_norm) {
  EDAT_CHECK(std::isfinite(max_norm) && max_norm > 0,
             "clip_grad_norm: max_norm must be finite and > 0, got " << max_norm);
  std::vector<Tensor> grads;
  for (const Tensor& p : parameters)
    if (p.defined() && p.grad().defined()) grads.push_back(p.grad());
  if (grads.empty()) return zeros({}, {.dtype = DType::f64});
  for (const Tensor& g : grads) {
    EDAT_CHECK(g.dtype() == grads[0].dtype() && g.device() == grads[0].device(),
               "clip_grad_norm: gradients must share one dtype and device: " << grads[0].desc() << " vs " << g.desc());
  }
  NoGradGuard no_grad;
  OptimKernels& kernels = optim_kernels(grads[0].device());
  Tensor total = empty({}, {.dtype = DType::f64, .device = grads[0].device()});
  kernels.sum_of_squares(grads, total);
  kernels.scale_by_norm(grads, total, max_norm);
  return sqrt(total);
}

Tensor clip_grad_norm(const nn::NamedTensors& parameters, double max_norm) {
  std::vector<Tensor> tensors;
  for (const auto& [name, p] : parameters) tensors.push_back(p);
  return clip_grad_norm(tensors, max_norm);
}

}  // namespace edat::optim
