// The CPU layer kernels' instance and the dropout mask (the other kernels live in conv2d_cpu.cpp,
// batch_norm_cpu.cpp and pooling_cpu.cpp).
#include "layers/cpu/cpu_layer_kernels.h"

#include "tensor/cpu/cpu_backend.h"
#include "tensor/random.h"

namespace edat::nn::cpu_impl {

using edat::cpu_impl::dispatch_floating;
using edat::cpu_impl::kParallelGrain;

LayerKernels& cpu_layer_kernels() {
  static CpuLayerKernels kernels;
  return kernels;
}

// mask[i] = 1 / (1 - p) where draw first + i of the stream is >= p, else 0: element i depends on its position
// only, so the mask is the same on any thread count and on CUDA (which evaluates the same uniform_at).
void CpuLayerKernels::dropout_mask(Tensor& mask, double p, std::uint64_t seed, std::uint64_t first) {
  dispatch_floating(mask.dtype(), "dropout", [&](auto tag) {
    using T = decltype(tag);
    T* m = mask.data<T>();
    const std::int64_t n = mask.numel();
    const T keep = static_cast<T>(1.0 / (1.0 - p));
#pragma omp parallel for schedule(static) if (n > kParallelGrain / 8)
    for (std::int64_t i = 0; i < n; ++i) {
      const double u = Generator::uniform_at(seed, first, static_cast<std::uint64_t>(i), 0.0, 1.0);
      m[i] = u >= p ? keep : T(0);
    }
  });
}

}  // namespace edat::nn::cpu_impl
