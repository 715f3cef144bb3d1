#include "tensor/backend.h"

#include "tensor/cpu/cpu_backend.h"
#if EDAT_HAS_CUDA
#include "tensor/cuda/cuda_backend.h"
#endif

namespace edat {

Backend& backend(Device device) {
  if (device.is_cpu()) return cpu_impl::cpu_backend();
#if EDAT_HAS_CUDA
  const int count = cuda_impl::device_count_or_zero();
  EDAT_CHECK(device.index >= 0 && device.index < count,
             "device " << device.str() << " is not available: this machine has " << count << " CUDA device(s)"
                       << (count == 0 ? " (" + cuda::unavailable_reason() + ")" : std::string()));
  return cuda_impl::cuda_backend();
#else
  throw Error("device " + device.str() + " requested, but " + cuda::unavailable_reason());
#endif
}

namespace cuda {

bool is_built() {
#if EDAT_HAS_CUDA
  return true;
#else
  return false;
#endif
}

int device_count() {
#if EDAT_HAS_CUDA
  return cuda_impl::device_count_or_zero();
#else
  return 0;
#endif
}

bool is_available() { return device_count() > 0; }

std::string unavailable_reason() {
#if EDAT_HAS_CUDA
  const cuda_impl::DeviceQuery& query = cuda_impl::query_devices();
  if (query.count > 0) return "";
  if (query.error.empty()) return "the CUDA runtime reports 0 devices";
  return "cudaGetDeviceCount failed: " + query.error;
#else
  return "this edat build has no CUDA backend (configure with -DEDAT_CUDA=ON on a machine with nvcc, cuBLAS and "
         "cuDNN)";
#endif
}

MemoryStats memory_stats(int device_index) { return backend(Device::cuda(device_index)).memory_stats(device_index); }
void reset_peak_memory_stats(int device_index) {
  backend(Device::cuda(device_index)).reset_peak_memory_stats(device_index);
}
void empty_cache() {
  if (is_available()) backend(Device::cuda(0)).empty_cache();
}
void synchronize() {
  if (is_available()) backend(Device::cuda(0)).synchronize();
}

}  // namespace cuda
}  // namespace edat
