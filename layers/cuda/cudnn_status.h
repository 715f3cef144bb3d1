// How edat answers a cuDNN status. cuDNN 9 codes are a category (a multiple of 1000) plus a sub-code that says
// more: CUDNN_STATUS_BAD_PARAM_NULL_POINTER is 2002, inside BAD_PARAM (2000); NOT_SUPPORTED_SHAPE is 3002. So every
// decision compares CUDNN_STATUS_CATEGORY(status), never the code itself, except where a sub-code changes the answer:
// inside NOT_SUPPORTED, a few sub-codes say the installation cannot run cuDNN at all (an old driver, a mismatched
// runtime, NVRTC or a sub-library missing). Those are environment faults: edat stops with a message saying what to
// fix, rather than quietly trying a slower algorithm that would hide a broken install.
#pragma once

#include <cudnn.h>

static_assert(CUDNN_MAJOR >= 9, "edat needs cuDNN 9 or newer (its status codes and sub-libraries)");

namespace edat::nn::cuda_impl {

enum class CudnnFault {
  none,                   // CUDNN_STATUS_SUCCESS
  algorithm_unavailable,  // this algorithm cannot run this problem on this GPU: try the next candidate
  environment,            // the installation cannot run cuDNN: an error with a hint, never a fall-back
  bad_param,              // cuDNN refuses the arguments (for a candidate: that algorithm does not take them)
  failure,                // an internal error or a failed execution
};

constexpr CudnnFault classify_cudnn_status(cudnnStatus_t status) {
  if (status == CUDNN_STATUS_SUCCESS) return CudnnFault::none;
  switch (status) {
    case CUDNN_STATUS_NOT_SUPPORTED_INCOMPATIBLE_CUDA_DRIVER:
    case CUDNN_STATUS_NOT_SUPPORTED_INCOMPATIBLE_CUDART:
    case CUDNN_STATUS_NOT_SUPPORTED_RUNTIME_PREREQUISITE_MISSING:
    case CUDNN_STATUS_NOT_SUPPORTED_SUBLIBRARY_UNAVAILABLE:
    case CUDNN_STATUS_NOT_INITIALIZED:
    case CUDNN_STATUS_SUBLIBRARY_VERSION_MISMATCH:
    case CUDNN_STATUS_SERIALIZATION_VERSION_MISMATCH:
    case CUDNN_STATUS_LICENSE_ERROR:
    case CUDNN_STATUS_SUBLIBRARY_LOADING_FAILED:
      return CudnnFault::environment;
    // cuDNN could not allocate device memory of its own for this algorithm: another one may need less.
    case CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED:
      return CudnnFault::algorithm_unavailable;
    default:
      break;
  }
  switch (CUDNN_STATUS_CATEGORY(static_cast<int>(status))) {
    case CUDNN_STATUS_NOT_SUPPORTED:  // shape, layout, data type, padding, this GPU's architecture ...
      return CudnnFault::algorithm_unavailable;
    case CUDNN_STATUS_BAD_PARAM:
      return CudnnFault::bad_param;
    default:
      return CudnnFault::failure;
  }
}

// For an environment fault, what to do about it (empty for other statuses).
constexpr const char* cudnn_environment_hint(cudnnStatus_t status) {
  switch (status) {
    case CUDNN_STATUS_NOT_SUPPORTED_INCOMPATIBLE_CUDA_DRIVER:
      return "the NVIDIA driver is older than this cuDNN needs: update the driver, or use a cuDNN built for it";
    case CUDNN_STATUS_NOT_SUPPORTED_INCOMPATIBLE_CUDART:
      return "the CUDA runtime edat was built with does not match this cuDNN's (compare cudnnGetCudartVersion() "
             "with the runtime; scripts/gpu_check.sh prints both)";
    case CUDNN_STATUS_NOT_SUPPORTED_RUNTIME_PREREQUISITE_MISSING:
      return "a library cuDNN needs at run time is missing, usually NVRTC (libnvrtc.so*, for runtime-compiled "
             "kernels): put its folder on LD_LIBRARY_PATH";
    case CUDNN_STATUS_NOT_SUPPORTED_SUBLIBRARY_UNAVAILABLE:
    case CUDNN_STATUS_SUBLIBRARY_LOADING_FAILED:
      return "one of cuDNN's sub-libraries (libcudnn_ops, libcudnn_cnn, libcudnn_engines_*) could not be loaded: "
             "keep all of cuDNN's libraries together in one folder on LD_LIBRARY_PATH";
    case CUDNN_STATUS_SUBLIBRARY_VERSION_MISMATCH:
    case CUDNN_STATUS_SERIALIZATION_VERSION_MISMATCH:
      return "cuDNN's sub-libraries are of different versions: install one cuDNN release, whole";
    case CUDNN_STATUS_NOT_INITIALIZED:
      return "cuDNN could not initialise (no usable GPU or driver for it)";
    case CUDNN_STATUS_LICENSE_ERROR:
      return "cuDNN's licence check failed";
    default:
      return "";
  }
}

}  // namespace edat::nn::cuda_impl
