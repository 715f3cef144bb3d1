// CPU reductions over a (outer, reduced, inner) view: sum (accumulated in f64) and max with its argmax.
#include <algorithm>
#include <cmath>

#include "tensor/cpu/cpu_backend.h"

namespace edat::cpu_impl {
namespace {

// Inner positions are processed in blocks of this many, so that the loop over `reduced` reads contiguous rows.
constexpr std::int64_t kInnerBlock = 256;

}  // namespace

void CpuBackend::sum_dim(const Tensor& x, Tensor& out, ReduceLayout l) {
  dispatch_floating(x.dtype(), "sum", [&](auto tag) {
    using T = decltype(tag);
    const T* in = x.data<T>();
    T* y = out.data<T>();
    if (l.outer == 1 && l.inner == 1) {  // a whole-tensor sum: one parallel reduction
      double total = 0;
#pragma omp parallel for reduction(+ : total) schedule(static) if (l.reduced > kParallelGrain)
      for (std::int64_t r = 0; r < l.reduced; ++r) total += in[r];
      y[0] = static_cast<T>(total);
      return;
    }
    const std::int64_t blocks = (l.inner + kInnerBlock - 1) / kInnerBlock;
#pragma omp parallel for collapse(2) schedule(static) if (l.outer * l.reduced * l.inner > kParallelGrain)
    for (std::int64_t o = 0; o < l.outer; ++o) {
      for (std::int64_t blk = 0; blk < blocks; ++blk) {
        const std::int64_t i0 = blk * kInnerBlock;
        const std::int64_t width = std::min(kInnerBlock, l.inner - i0);
        double acc[kInnerBlock] = {};
        const T* base = in + o * l.reduced * l.inner + i0;
        for (std::int64_t r = 0; r < l.reduced; ++r) {
          const T* row = base + r * l.inner;
          for (std::int64_t j = 0; j < width; ++j) acc[j] += row[j];
        }
        for (std::int64_t j = 0; j < width; ++j) y[o * l.inner + i0 + j] = static_cast<T>(acc[j]);
      }
    }
  });
}

void CpuBackend::max_dim(const Tensor& x, Tensor& values, Tensor& indices, ReduceLayout l) {
  dispatch_floating(x.dtype(), "max", [&](auto tag) {
    using T = decltype(tag);
    const T* in = x.data<T>();
    T* v = values.data<T>();
    std::int64_t* idx = indices.data<std::int64_t>();
#pragma omp parallel for collapse(2) schedule(static) if (l.outer * l.reduced * l.inner > kParallelGrain)
    for (std::int64_t o = 0; o < l.outer; ++o) {
      for (std::int64_t i = 0; i < l.inner; ++i) {
        const T* column = in + o * l.reduced * l.inner + i;
        T best = column[0];
        std::int64_t best_r = 0;
        // Strictly greater keeps the first maximum; a NaN wins and stays (as in PyTorch).
        for (std::int64_t r = 1; r < l.reduced && !std::isnan(best); ++r) {
          const T value = column[r * l.inner];
          if (value > best || std::isnan(value)) best = value, best_r = r;
        }
        v[o * l.inner + i] = best;
        idx[o * l.inner + i] = best_r;
      }
    }
  });
}

void CpuBackend::max_dim_backward(const Tensor& grad_values, const Tensor& indices, Tensor& grad_x,
                                  ReduceLayout l) {
  dispatch_floating(grad_values.dtype(), "max backward", [&](auto tag) {
    using T = decltype(tag);
    const T* g = grad_values.data<T>();
    const std::int64_t* idx = indices.data<std::int64_t>();
    T* gx = grad_x.data<T>();
    const std::int64_t n = l.outer * l.inner;
#pragma omp parallel for schedule(static) if (n > kParallelGrain)
    for (std::int64_t k = 0; k < n; ++k) {
      const std::int64_t o = k / l.inner, i = k % l.inner;
      gx[(o * l.reduced + idx[k]) * l.inner + i] += g[k];
    }
  });
}

}  // namespace edat::cpu_impl
