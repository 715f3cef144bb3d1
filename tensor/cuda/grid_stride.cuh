// Grid-stride loop indices for the elementwise-style kernels (device code: include from .cu files only).
//   for (std::int64_t i = first_index(); i < n; i += grid_stride()) ...
// 64-bit, so tensors past 2^31 elements index correctly.
#pragma once

#include <cstdint>

namespace edat::cuda_impl {

__device__ inline std::int64_t first_index() {
  return static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ inline std::int64_t grid_stride() { return static_cast<std::int64_t>(blockDim.x) * gridDim.x; }

}  // namespace edat::cuda_impl
