// Numerical gradient checking: compares the gradients backward() computes with central differences in f64.
//
// For y = fn(inputs) and a fixed random cotangent w (seeded), the scalar L = sum(y * w) is differentiated two ways:
// analytically through backward(), and numerically, (L(x + eps e_j) - L(x - eps e_j)) / (2 eps) for every element j
// of every input that requires grad. A random w (rather than ones) also exercises the grad_output each backward
// receives. An element passes when |analytic - numeric| <= atol + rtol * |numeric|.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace edat {

struct GradcheckOptions {
  double eps = 1e-6;
  double rtol = 1e-6;
  double atol = 1e-9;  // floor for gradients at or near zero, where a relative error means nothing
  std::uint64_t seed = 1234;
};

struct GradcheckResult {
  bool ok = true;
  double worst_ratio = 0;  // max over elements of |analytic - numeric| / (atol + rtol |numeric|); ok iff <= 1
  std::string worst;       // "input 1, element 5: analytic 0.25, numeric 0.2500001"
  std::string summary() const;
};

using GradcheckFn = std::function<Tensor(const std::vector<Tensor>&)>;

// `inputs` must be f64 CPU tensors; those with requires_grad are checked. They are not modified.
GradcheckResult gradcheck(const GradcheckFn& fn, const std::vector<Tensor>& inputs, const GradcheckOptions& options = {});

// The same check for tensors that `fn` reads where they are, such as a module's parameters: `fn` computes y from the
// current values of `leaves` (f64 CPU leaves; those with requires_grad are checked), which are perturbed in place and
// restored; their .grad is overwritten. gradcheck() above is this on fresh copies of its inputs.
GradcheckResult gradcheck_in_place(const std::function<Tensor()>& fn, const std::vector<Tensor>& leaves,
                                   const GradcheckOptions& options = {});

}  // namespace edat
