// cuda_info: what the CUDA side of this machine is, as edat sees it, for scripts/gpu_check.sh's first lines: the
// driver's and the runtime's CUDA versions, cuDNN's version at run time beside the one compiled against (and the
// runtime cuDNN was built for), cuBLAS's version, and each device (name, compute capability, SM count, memory).
// Every query is printed with its own error, so a broken installation shows where it breaks.
//
//   cuda_info                    prints, exits 0 (also without a device)
//   cuda_info --require-device   exits 1 when there is no usable device (the reason printed)
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <cstdio>
#include <cstring>

namespace {

// "12.4" from CUDA's 12040.
void print_cuda_version(const char* what, int version) {
  std::printf("%-28s %d.%d (%d)\n", what, version / 1000, (version % 1000) / 10, version);
}

}  // namespace

int main(int argc, char** argv) {
  const bool require_device = argc > 1 && std::strcmp(argv[1], "--require-device") == 0;
  int driver = 0, runtime = 0;
  const cudaError_t driver_error = cudaDriverGetVersion(&driver);
  if (driver_error == cudaSuccess && driver > 0) {
    print_cuda_version("driver supports CUDA", driver);
  } else {
    std::printf("%-28s none (%s)\n", "driver supports CUDA",
                driver_error == cudaSuccess ? "no driver is installed: libcuda.so was not found"
                                            : cudaGetErrorName(driver_error));
  }
  (void)cudaRuntimeGetVersion(&runtime);
  print_cuda_version("CUDA runtime (static)", runtime);
  std::printf("%-28s %d.%d.%d\n", "cuDNN compiled against", CUDNN_MAJOR, CUDNN_MINOR, CUDNN_PATCHLEVEL);
  const std::size_t cudnn = cudnnGetVersion();
  std::printf("%-28s %zu.%zu.%zu (%zu)\n", "cuDNN loaded", cudnn / 10000, (cudnn % 10000) / 100, cudnn % 100, cudnn);
  print_cuda_version("cuDNN built for CUDA runtime", static_cast<int>(cudnnGetCudartVersion()));
  if (cudnn / 10000 != CUDNN_MAJOR) std::printf("WARNING: cuDNN's major version differs from the compiled one\n");
  int cublas = 0;
  if (cublasGetProperty(MAJOR_VERSION, &cublas) == CUBLAS_STATUS_SUCCESS) {
    int minor = 0, patch = 0;
    (void)cublasGetProperty(MINOR_VERSION, &minor);
    (void)cublasGetProperty(PATCH_LEVEL, &patch);
    std::printf("%-28s %d.%d.%d\n", "cuBLAS loaded", cublas, minor, patch);
  }

  int count = 0;
  const cudaError_t count_error = cudaGetDeviceCount(&count);
  if (count_error != cudaSuccess || count == 0) {
    std::printf("%-28s none: %s: %s\n", "devices", cudaGetErrorName(count_error), cudaGetErrorString(count_error));
    return require_device ? 1 : 0;
  }
  for (int d = 0; d < count; ++d) {
    cudaDeviceProp p{};
    const cudaError_t error = cudaGetDeviceProperties(&p, d);
    if (error != cudaSuccess) {
      std::printf("cuda:%d                       %s\n", d, cudaGetErrorName(error));
      continue;
    }
    std::printf("cuda:%-23d %s, sm_%d%d, %d SMs, %.1f GiB\n", d, p.name, p.major, p.minor, p.multiProcessorCount,
                static_cast<double>(p.totalGlobalMem) / (1 << 30));
  }
  return 0;
}
