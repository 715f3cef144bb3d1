#include "optim/kernels.h"

#include "optim/cpu/cpu_optim_kernels.h"
#include "tensor/backend.h"
#if EDAT_HAS_CUDA
#include "optim/cuda/cuda_optim_kernels.h"
#endif

namespace edat::optim {

OptimKernels& optim_kernels(Device device) {
  if (device.is_cpu()) return cpu_impl::cpu_optim_kernels();
  backend(device);  // throws the clear error when CUDA is not built or the device is absent
#if EDAT_HAS_CUDA
  return cuda_impl::cuda_optim_kernels();
#else
  throw Error("unreachable: no CUDA optimizer kernels in this build");
#endif
}

}  // namespace edat::optim
