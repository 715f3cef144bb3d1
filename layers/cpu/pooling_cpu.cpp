// Same result as reference/pooling_reference.cpp, made fast by running (n, c) planes in parallel (every window lies
// within one plane, so each thread owns the planes it writes) and by clipping each window to the image once rather
// than testing every tap: max pooling (with the argmax for the backward) and adaptive average pooling.
#include <algorithm>
#include <cmath>
#include <limits>

#include "layers/cpu/cpu_layer_kernels.h"
#include "tensor/cpu/cpu_backend.h"

namespace edat::nn::cpu_impl {

using edat::cpu_impl::dispatch_floating;
using edat::cpu_impl::kParallelGrain;

namespace {

// Adaptive pooling window along one dim: [floor(i in / out), ceil((i + 1) in / out)).
inline std::int64_t window_start(std::int64_t i, std::int64_t in, std::int64_t out) { return i * in / out; }
inline std::int64_t window_end(std::int64_t i, std::int64_t in, std::int64_t out) {
  return ((i + 1) * in + out - 1) / out;
}

}  // namespace

// y = the max over the window's in-image positions (padding is -inf); indices = h W + w of the first maximum
// (a NaN counts as the maximum, as in PyTorch).
void CpuLayerKernels::max_pool2d_forward(const Tensor& x, Tensor& y, Tensor& indices, const Pool2dOptions& o) {
  const std::int64_t planes = x.size(0) * x.size(1), H = x.size(2), W = x.size(3);
  const std::int64_t P = y.size(2), Q = y.size(3);
  dispatch_floating(x.dtype(), "max_pool2d", [&](auto tag) {
    using T = decltype(tag);
    const T* in = x.data<T>();
    T* out = y.data<T>();
    std::int64_t* idx = indices.data<std::int64_t>();
#pragma omp parallel for schedule(static) if (planes * P * Q * o.kernel_h * o.kernel_w > kParallelGrain)
    for (std::int64_t plane = 0; plane < planes; ++plane) {
      const T* xp = in + plane * H * W;
      for (std::int64_t p = 0; p < P; ++p) {
        std::int64_t h0 = p * o.stride_h - o.pad_h;
        const std::int64_t h1 = std::min(h0 + (o.kernel_h - 1) * o.dilation_h + 1, H);
        while (h0 < 0) h0 += o.dilation_h;
        for (std::int64_t q = 0; q < Q; ++q) {
          std::int64_t w0 = q * o.stride_w - o.pad_w;
          const std::int64_t w1 = std::min(w0 + (o.kernel_w - 1) * o.dilation_w + 1, W);
          while (w0 < 0) w0 += o.dilation_w;
          T best = -std::numeric_limits<T>::infinity();
          std::int64_t best_at = h0 * W + w0;
          for (std::int64_t h = h0; h < h1; h += o.dilation_h) {
            for (std::int64_t w = w0; w < w1; w += o.dilation_w) {
              const T v = xp[h * W + w];
              if (v > best || std::isnan(v)) best = v, best_at = h * W + w;
            }
          }
          out[(plane * P + p) * Q + q] = best;
          idx[(plane * P + p) * Q + q] = best_at;
        }
      }
    }
  });
}

// dx[plane, indices[o]] += dy[o] for every output o of the plane (dx zeroed by the caller).
void CpuLayerKernels::max_pool2d_backward(const Tensor& dy, const Tensor& indices, Tensor& dx, const Pool2dOptions&) {
  const std::int64_t planes = dx.size(0) * dx.size(1), HW = dx.size(2) * dx.size(3);
  const std::int64_t PQ = dy.size(2) * dy.size(3);
  dispatch_floating(dy.dtype(), "max_pool2d backward", [&](auto tag) {
    using T = decltype(tag);
    const T* g = dy.data<T>();
    const std::int64_t* idx = indices.data<std::int64_t>();
    T* gx = dx.data<T>();
#pragma omp parallel for schedule(static) if (planes * PQ > kParallelGrain)
    for (std::int64_t plane = 0; plane < planes; ++plane) {
      for (std::int64_t i = 0; i < PQ; ++i) gx[plane * HW + idx[plane * PQ + i]] += g[plane * PQ + i];
    }
  });
}

// y[i, j] = the mean of x over rows [h0, h1) and columns [w0, w1) of cell (i, j).
void CpuLayerKernels::adaptive_avg_pool2d_forward(const Tensor& x, Tensor& y) {
  const std::int64_t planes = x.size(0) * x.size(1), H = x.size(2), W = x.size(3);
  const std::int64_t OH = y.size(2), OW = y.size(3);
  dispatch_floating(x.dtype(), "adaptive_avg_pool2d", [&](auto tag) {
    using T = decltype(tag);
    const T* in = x.data<T>();
    T* out = y.data<T>();
#pragma omp parallel for schedule(static) if (x.numel() > kParallelGrain)
    for (std::int64_t plane = 0; plane < planes; ++plane) {
      const T* xp = in + plane * H * W;
      for (std::int64_t i = 0; i < OH; ++i) {
        const std::int64_t h0 = window_start(i, H, OH), h1 = window_end(i, H, OH);
        for (std::int64_t j = 0; j < OW; ++j) {
          const std::int64_t w0 = window_start(j, W, OW), w1 = window_end(j, W, OW);
          double sum = 0;
          for (std::int64_t h = h0; h < h1; ++h)
            for (std::int64_t w = w0; w < w1; ++w) sum += xp[h * W + w];
          out[(plane * OH + i) * OW + j] = static_cast<T>(sum / static_cast<double>((h1 - h0) * (w1 - w0)));
        }
      }
    }
  });
}

// dx[h, w] = the sum over the cells (i, j) whose window holds (h, w) of dy[i, j] / (window size).
void CpuLayerKernels::adaptive_avg_pool2d_backward(const Tensor& dy, Tensor& dx) {
  const std::int64_t planes = dx.size(0) * dx.size(1), H = dx.size(2), W = dx.size(3);
  const std::int64_t OH = dy.size(2), OW = dy.size(3);
  dispatch_floating(dy.dtype(), "adaptive_avg_pool2d backward", [&](auto tag) {
    using T = decltype(tag);
    const T* g = dy.data<T>();
    T* gx = dx.data<T>();
#pragma omp parallel for schedule(static) if (dx.numel() > kParallelGrain)
    for (std::int64_t plane = 0; plane < planes; ++plane) {
      T* xp = gx + plane * H * W;
      for (std::int64_t k = 0; k < H * W; ++k) xp[k] = T(0);
      for (std::int64_t i = 0; i < OH; ++i) {
        const std::int64_t h0 = window_start(i, H, OH), h1 = window_end(i, H, OH);
        for (std::int64_t j = 0; j < OW; ++j) {
          const std::int64_t w0 = window_start(j, W, OW), w1 = window_end(j, W, OW);
          const T share = static_cast<T>(g[(plane * OH + i) * OW + j] / static_cast<double>((h1 - h0) * (w1 - w0)));
          for (std::int64_t h = h0; h < h1; ++h)
            for (std::int64_t w = w0; w < w1; ++w) xp[h * W + w] += share;
        }
      }
    }
  });
}

}  // namespace edat::nn::cpu_impl
