// The CUDA backend's entry points, called by tensor/backend.cpp when the build has CUDA (EDAT_HAS_CUDA).
#pragma once

#include "tensor/backend.h"

namespace edat::cuda_impl {

// The process-wide CUDA backend; it serves every device index (each call runs on its tensors' device).
Backend& cuda_backend();
// The number of CUDA devices, or 0 when there is none or no working driver (the failure is cleared, not thrown).
int device_count_or_zero();

}  // namespace edat::cuda_impl
