// The CUDA dropout mask: element i is 1 / (1 - p) where draw first + i of the generator's stream is >= p, else 0.
// The draw is random.h's Generator::uniform_at evaluated in double, so the mask is the CPU's bit for bit
// (uniform_at(.., 0, 1) is 0 + 1 * unit: exact with or without a fused multiply-add).
#include <cstdint>

#include "layers/cuda/cuda_layer_kernels.h"
#include "tensor/cuda/cuda_check.h"
#include "tensor/cuda/cuda_kernels.h"
#include "tensor/cuda/grid_stride.cuh"
#include "tensor/random.h"

namespace edat::nn::cuda_impl {

using edat::cuda_impl::current_stream;
using edat::cuda_impl::dispatch_floating;
using edat::cuda_impl::first_index;
using edat::cuda_impl::grid_size;
using edat::cuda_impl::grid_stride;
using edat::cuda_impl::kThreadsPerBlock;

namespace {

template <class T>
__global__ void dropout_mask_kernel(T* mask, std::int64_t n, std::uint64_t seed, std::uint64_t first, double p,
                                    T keep) {
  for (std::int64_t i = first_index(); i < n; i += grid_stride()) {
    const double u = Generator::uniform_at(seed, first, static_cast<std::uint64_t>(i), 0.0, 1.0);
    mask[i] = u >= p ? keep : T(0);
  }
}

}  // namespace

void dropout_mask(Tensor& mask, double p, std::uint64_t seed, std::uint64_t first) {
  const std::int64_t n = mask.numel();
  if (n == 0) return;
  dispatch_floating(mask.dtype(), "dropout", [&](auto zero) {
    using T = decltype(zero);
    const T keep = static_cast<T>(1.0 / (1.0 - p));  // in double, then rounded once, as on the CPU
    dropout_mask_kernel<T><<<grid_size(n), kThreadsPerBlock, 0, current_stream()>>>(static_cast<T*>(mask.raw_data()), n,
                                                                                    seed, first, p, keep);
  });
  EDAT_CUDA_CHECK_LAUNCH();
}

}  // namespace edat::nn::cuda_impl
