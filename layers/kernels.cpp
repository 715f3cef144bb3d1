#include "layers/kernels.h"

#include "layers/cpu/cpu_layer_kernels.h"
#include "tensor/backend.h"
#if EDAT_HAS_CUDA
#include "layers/cuda/cuda_layer_kernels.h"
#endif

namespace edat::nn {

LayerKernels& layer_kernels(Device device) {
  if (device.is_cpu()) return cpu_impl::cpu_layer_kernels();
  backend(device);  // throws the clear error when CUDA is not built or the device is absent
#if EDAT_HAS_CUDA
  return cuda_impl::cuda_layer_kernels();
#else
  throw Error("unreachable: no CUDA layer kernels in this build");
#endif
}

}  // namespace edat::nn
