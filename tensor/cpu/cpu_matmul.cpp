// CPU matrix product through Eigen (its GEMM is blocked, vectorised and OpenMP-parallel) and a blocked transpose.
#include <Eigen/Core>
#include <algorithm>

#include "tensor/cpu/cpu_backend.h"

namespace edat::cpu_impl {
namespace {

template <class T> using RowMajor = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

}  // namespace

void CpuBackend::matmul(const Tensor& a, const Tensor& b, Tensor& out, bool trans_a, bool trans_b) {
  dispatch_floating(a.dtype(), "matmul", [&](auto tag) {
    using T = decltype(tag);
    Eigen::Map<const RowMajor<T>> A(a.data<T>(), a.size(0), a.size(1));
    Eigen::Map<const RowMajor<T>> B(b.data<T>(), b.size(0), b.size(1));
    Eigen::Map<RowMajor<T>> C(out.data<T>(), out.size(0), out.size(1));
    if (!trans_a && !trans_b) C.noalias() = A * B;
    if (!trans_a && trans_b) C.noalias() = A * B.transpose();
    if (trans_a && !trans_b) C.noalias() = A.transpose() * B;
    if (trans_a && trans_b) C.noalias() = A.transpose() * B.transpose();
  });
}

void CpuBackend::transpose2d(const Tensor& x, Tensor& out) {
  dispatch_floating(x.dtype(), "transpose", [&](auto tag) {
    using T = decltype(tag);
    const T* in = x.data<T>();
    T* y = out.data<T>();
    const std::int64_t rows = x.size(0), cols = x.size(1);
    constexpr std::int64_t kTile = 32;  // tiles keep both the reads and the writes within cache lines
#pragma omp parallel for collapse(2) schedule(static) if (rows * cols > kParallelGrain)
    for (std::int64_t r0 = 0; r0 < rows; r0 += kTile) {
      for (std::int64_t c0 = 0; c0 < cols; c0 += kTile) {
        for (std::int64_t r = r0; r < std::min(r0 + kTile, rows); ++r)
          for (std::int64_t c = c0; c < std::min(c0 + kTile, cols); ++c) y[c * rows + r] = in[r * cols + c];
      }
    }
  });
}

}  // namespace edat::cpu_impl
