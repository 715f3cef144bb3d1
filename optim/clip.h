// Gradient clipping by global norm, as torch.nn.utils.clip_grad_norm_ (norm type 2):
//   total = sqrt(sum over all gradients of sum(g^2));  every g *= min(1, max_norm / (total + 1e-6)).
#pragma once

#include <vector>

#include "layers/module.h"

namespace edat::optim {

// Clips the gradients of `parameters` in place (parameters without a gradient are skipped) and returns the total
// norm before clipping as a 0-dim f64 tensor on the gradients' device: reading it (.item()) is the only wait for the
// device. Sums accumulate in f64; on CUDA the whole clip is three launches however many tensors there are.
// max_norm must be finite and > 0; all gradients must share one dtype and device.
Tensor clip_grad_norm(const std::vector<Tensor>& parameters, double max_norm);
Tensor clip_grad_norm(const nn::NamedTensors& parameters, double max_norm);

}  // namespace edat::optim
