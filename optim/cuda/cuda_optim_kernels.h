// The CUDA optimizer kernels (cuda_optim_kernels.cu): multi-tensor kernels that update every parameter in one launch.
#pragma once

#include "optim/kernels.h"

namespace edat::optim::cuda_impl {

OptimKernels& cuda_optim_kernels();

}  // namespace edat::optim::cuda_impl
