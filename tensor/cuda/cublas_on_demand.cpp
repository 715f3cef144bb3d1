// cuBLAS, loaded on first use. Linked as usual, libcublas.so and libcublasLt.so load with every edat program, and
// their static initialisers cost about 0.12 s of CPU and 200 MB of touched memory before main() even when the program
// never leaves the CPU (predict_age on one photo, every CPU test). So edat does not link them: it defines the few
// cuBLAS functions it calls (the declarations of cublas_v2.h, so a wrong signature does not compile), and each
// forwards to the real one, looked up with dlopen/dlsym the first time any is called.
//
// The library is looked for by its soname (LD_LIBRARY_PATH, the system's folders: what the linker would have found),
// then in the CUDA toolkit this build used (EDAT_CUBLAS_DIR). Failing both is an edat::Error that says so.
#include <cublas_v2.h>
#include <dlfcn.h>

#include <string>

#include "tensor/error.h"

namespace edat::cuda_impl {
namespace {

void* cublas_library() {
  static void* handle = [] {
    const std::string soname = "libcublas.so." + std::to_string(CUBLAS_VER_MAJOR);
    void* found = dlopen(soname.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (found == nullptr) found = dlopen((std::string(EDAT_CUBLAS_DIR) + "/" + soname).c_str(), RTLD_NOW | RTLD_LOCAL);
    EDAT_CHECK(found != nullptr, "cannot load cuBLAS (" << soname << ", also looked for in " << EDAT_CUBLAS_DIR
                                                        << "): " << dlerror()
                                                        << "; put its folder on LD_LIBRARY_PATH");
    return found;
  }();
  return handle;
}

// The real function `name` of type F (thread-safe: the first lookup happens inside a static's initialisation).
template <class F>
F real(const char* name) {
  void* symbol = dlsym(cublas_library(), name);
  EDAT_CHECK(symbol != nullptr, "cuBLAS has no function " << name << ": " << dlerror());
  return reinterpret_cast<F>(symbol);
}

}  // namespace
}  // namespace edat::cuda_impl

// Each forwards its arguments to cuBLAS's own function of the same name.
#define EDAT_CUBLAS_FORWARD(name, ...)                                                 \
  static const auto real_function = edat::cuda_impl::real<decltype(&name)>(#name); \
  return real_function(__VA_ARGS__)

extern "C" {

cublasStatus_t CUBLASWINAPI cublasCreate_v2(cublasHandle_t* handle) { EDAT_CUBLAS_FORWARD(cublasCreate_v2, handle); }

cublasStatus_t CUBLASWINAPI cublasGetProperty(libraryPropertyType type, int* value) {
  EDAT_CUBLAS_FORWARD(cublasGetProperty, type, value);
}

const char* CUBLASWINAPI cublasGetStatusName(cublasStatus_t status) {
  EDAT_CUBLAS_FORWARD(cublasGetStatusName, status);
}

const char* CUBLASWINAPI cublasGetStatusString(cublasStatus_t status) {
  EDAT_CUBLAS_FORWARD(cublasGetStatusString, status);
}

cublasStatus_t CUBLASWINAPI cublasSetMathMode(cublasHandle_t handle, cublasMath_t mode) {
  EDAT_CUBLAS_FORWARD(cublasSetMathMode, handle, mode);
}

cublasStatus_t CUBLASWINAPI cublasSetStream_v2(cublasHandle_t handle, cudaStream_t stream) {
  EDAT_CUBLAS_FORWARD(cublasSetStream_v2, handle, stream);
}

cublasStatus_t CUBLASWINAPI cublasSgemm_v2(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb,
                                           int m, int n, int k, const float* alpha, const float* A, int lda,
                                           const float* B, int ldb, const float* beta, float* C, int ldc) {
  EDAT_CUBLAS_FORWARD(cublasSgemm_v2, handle, transa, transb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}

cublasStatus_t CUBLASWINAPI cublasDgemm_v2(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb,
                                           int m, int n, int k, const double* alpha, const double* A, int lda,
                                           const double* B, int ldb, const double* beta, double* C, int ldc) {
  EDAT_CUBLAS_FORWARD(cublasDgemm_v2, handle, transa, transb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}

}  // extern "C"
