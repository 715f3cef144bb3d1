// Error checking, device selection and the stream every CUDA call of edat goes through.
//
//   EDAT_CUDA_CHECK(cudaMemcpyAsync(...));   throws edat::Error naming the call, file:line and CUDA's message
//   EDAT_CUBLAS_CHECK(cublasSgemm(...));     the same for cuBLAS status codes
//   EDAT_CUDA_CHECK_LAUNCH();                after every kernel launch (bad configuration, missing sm_XX image ...)
//   DeviceGuard guard(tensor.device().index);  makes that device current for the scope, restores the previous one
//   current_stream()                         the stream all kernels, copies and cuBLAS calls are queued on
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <string>

#include "tensor/error.h"

namespace edat::cuda_impl {

[[noreturn]] inline void throw_cuda_error(cudaError_t error, const char* call, const char* file, int line) {
  (void)cudaGetLastError();  // clear a non-sticky error so that later checks do not report it again
  throw Error(std::string("CUDA error: ") + call + " failed at " + file + ":" + std::to_string(line) + ": " +
              cudaGetErrorName(error) + ": " + cudaGetErrorString(error));
}

[[noreturn]] inline void throw_cublas_error(cublasStatus_t status, const char* call, const char* file, int line) {
  throw Error(std::string("cuBLAS error: ") + call + " failed at " + file + ":" + std::to_string(line) + ": " +
              cublasGetStatusName(status) + ": " + cublasGetStatusString(status));
}

// The stream of all edat work. One per process for now: the legacy default stream (0), which also orders the
// caching allocator's reuse of freed blocks. Route every launch, copy and cuBLAS call through here.
inline cudaStream_t current_stream() { return nullptr; }

// Makes device `index` current for the lifetime of the guard (only calls cudaSetDevice when it changes).
class DeviceGuard {
 public:
  explicit DeviceGuard(int index);
  ~DeviceGuard() {
    if (previous_ != index_) (void)cudaSetDevice(previous_);  // a destructor must not throw
  }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = 0;
  int index_ = 0;
};

}  // namespace edat::cuda_impl

#define EDAT_CUDA_CHECK(expr)                                                           \
  do {                                                                                  \
    const cudaError_t edat_cuda_error_ = (expr);                                        \
    if (edat_cuda_error_ != cudaSuccess)                                                \
      ::edat::cuda_impl::throw_cuda_error(edat_cuda_error_, #expr, __FILE__, __LINE__); \
  } while (false)

#define EDAT_CUBLAS_CHECK(expr)                                                              \
  do {                                                                                       \
    const cublasStatus_t edat_cublas_status_ = (expr);                                       \
    if (edat_cublas_status_ != CUBLAS_STATUS_SUCCESS)                                        \
      ::edat::cuda_impl::throw_cublas_error(edat_cublas_status_, #expr, __FILE__, __LINE__); \
  } while (false)

// Checks the launch of the kernel just queued (it does not wait for the kernel to finish).
#define EDAT_CUDA_CHECK_LAUNCH() EDAT_CUDA_CHECK(cudaGetLastError())

namespace edat::cuda_impl {

inline DeviceGuard::DeviceGuard(int index) : index_(index) {
  EDAT_CUDA_CHECK(cudaGetDevice(&previous_));
  if (previous_ != index_) EDAT_CUDA_CHECK(cudaSetDevice(index_));
}

}  // namespace edat::cuda_impl
