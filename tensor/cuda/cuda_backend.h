// The CUDA backend's entry points, called by tensor/backend.cpp when the build has CUDA (EDAT_HAS_CUDA).
#pragma once

#include <string>

#include "tensor/backend.h"

namespace edat::cuda_impl {

// The process-wide CUDA backend; it serves every device index (each call runs on its tensors' device).
Backend& cuda_backend();
// What cudaGetDeviceCount said, asked once per process: the number of devices, and when it failed the error's
// name and text ("cudaErrorNoDevice: no CUDA-capable device is detected", "cudaErrorInsufficientDriver: ...").
// The failure is cleared, not thrown: no device is a normal state for a CPU-only run.
struct DeviceQuery {
  int count = 0;
  std::string error;  // empty when the call succeeded
};
const DeviceQuery& query_devices();
// query_devices().count: the number of CUDA devices, or 0 when there is none or no working driver.
int device_count_or_zero();

}  // namespace edat::cuda_impl
