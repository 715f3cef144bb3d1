// matmul through cuBLAS: out = op(a) op(b) for row-major 2-D tensors, op = transpose where the flag is set.
//
// cuBLAS is column-major, and a row-major (r, c) matrix read column-major is its transpose (c, r). So instead of
// C = op(A) op(B) we ask cuBLAS for C^T = op(B)^T op(A)^T, whose column-major result is C in row-major order:
//   gemm(op_b, op_a, m = N, n = M, k = K, B with ld = cols of b, A with ld = cols of a, C with ld = N).
// Exact fp32 by default, so CPU-vs-CUDA checks hold; EDAT_ALLOW_TF32=1 (or EDAT_ALLOW_TF32_MATMUL=1) lets cuBLAS
// use TF32 tensor cores (tensor/cuda/tf32.h).
#include <array>
#include <climits>
#include <mutex>
#include <type_traits>

#include "tensor/cuda/cuda_check.h"
#include "tensor/cuda/cuda_kernels.h"
#include "tensor/cuda/tf32.h"

namespace edat::cuda_impl {

namespace {

constexpr int kMaxDevices = 64;

bool tf32_allowed() {
  static const bool allowed = tf32_allowed_by_env("EDAT_ALLOW_TF32_MATMUL");
  return allowed;
}

struct CublasHandles {
  std::mutex mutex;
  std::array<cublasHandle_t, kMaxDevices> by_device{};
  std::array<cudaStream_t, kMaxDevices> stream{};  // the stream each handle is bound to
};

// The cuBLAS handle of `device` (the current device), created on first use and bound to current_stream().
// Handles are never destroyed: destroying them during static destruction races the CUDA runtime's own teardown.
cublasHandle_t cublas_handle(int device) {
  EDAT_CHECK(device >= 0 && device < kMaxDevices, "matmul: cuda:" << device << " is out of range");
  static auto* handles = new CublasHandles;
  std::lock_guard<std::mutex> lock(handles->mutex);
  cublasHandle_t& handle = handles->by_device[static_cast<std::size_t>(device)];
  if (handle == nullptr) {
    cublasHandle_t created = nullptr;
    EDAT_CUBLAS_CHECK(cublasCreate(&created));
    EDAT_CUBLAS_CHECK(cublasSetMathMode(created, tf32_allowed() ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
    EDAT_CUBLAS_CHECK(cublasSetStream(created, current_stream()));
    handle = created;
    handles->stream[static_cast<std::size_t>(device)] = current_stream();
  }
  // Rebind only when the stream changed: cublasSetStream also resets the handle's workspace.
  cudaStream_t& bound = handles->stream[static_cast<std::size_t>(device)];
  if (bound != current_stream()) {
    EDAT_CUBLAS_CHECK(cublasSetStream(handle, current_stream()));
    bound = current_stream();
  }
  return handle;
}

int to_int(std::int64_t value, const Tensor& a, const Tensor& b) {
  EDAT_CHECK(value <= INT_MAX, "matmul: " << a.desc() << " @ " << b.desc() << " has a dim over 2^31 - 1, which "
                                          << "cuBLAS's 32-bit interface cannot take");
  return static_cast<int>(value);
}

}  // namespace

void matmul(const Tensor& a, const Tensor& b, Tensor& out, bool trans_a, bool trans_b) {
  EDAT_CHECK(a.dim() == 2 && b.dim() == 2, "matmul: expected 2-D tensors, got " << a.desc() << " and " << b.desc());
  const std::int64_t a_cols = a.size(1), b_cols = b.size(1);
  const std::int64_t m = trans_a ? a.size(1) : a.size(0);
  const std::int64_t k = trans_a ? a.size(0) : a.size(1);
  const std::int64_t n = trans_b ? b.size(0) : b.size(1);
  if (m == 0 || n == 0) return;
  if (k == 0) {  // an empty inner product: all zeros
    EDAT_CUDA_CHECK(cudaMemsetAsync(out.raw_data(), 0, out.nbytes(), current_stream()));
    return;
  }
  const int mi = to_int(m, a, b), ni = to_int(n, a, b), ki = to_int(k, a, b);
  const int lda = to_int(a_cols, a, b), ldb = to_int(b_cols, a, b);
  const cublasOperation_t op_a = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t op_b = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  cublasHandle_t handle = cublas_handle(a.device().index);
  dispatch_floating(a.dtype(), "matmul", [&](auto zero) {
    using T = decltype(zero);
    const T alpha = 1, beta = 0;
    const T* pa = static_cast<const T*>(a.raw_data());
    const T* pb = static_cast<const T*>(b.raw_data());
    T* pc = static_cast<T*>(out.raw_data());
    if constexpr (std::is_same_v<T, float>) {
      EDAT_CUBLAS_CHECK(cublasSgemm(handle, op_b, op_a, ni, mi, ki, &alpha, pb, ldb, pa, lda, &beta, pc, ni));
    } else {
      EDAT_CUBLAS_CHECK(cublasDgemm(handle, op_b, op_a, ni, mi, ki, &alpha, pb, ldb, pa, lda, &beta, pc, ni));
    }
  });
}

}  // namespace edat::cuda_impl
