// The CPU optimizer kernels: one OpenMP loop per tensor over the shared update rules of optim/update_rules.h;
// sums of squares accumulate in f64.
#pragma once

#include "optim/kernels.h"

namespace edat::optim::cpu_impl {

OptimKernels& cpu_optim_kernels();

}  // namespace edat::optim::cpu_impl
