// CUDA max pooling (with the argmax for the backward) and adaptive average pooling: one thread per output element
// (per input element for the average pool's backward), grid-stride loops, 64-bit indices. The arithmetic is the
// CPU's (layers/cpu/pooling_cpu.cpp), so values and indices agree exactly and sums to rounding.
#include <cmath>
#include <cstdint>

#include "layers/cuda/cuda_layer_kernels.h"
#include "tensor/cuda/cuda_check.h"
#include "tensor/cuda/cuda_kernels.h"
#include "tensor/cuda/grid_stride.cuh"
#include "tensor/determinism.h"

namespace edat::nn::cuda_impl {

using edat::cuda_impl::current_stream;
using edat::cuda_impl::dispatch_floating;
using edat::cuda_impl::first_index;
using edat::cuda_impl::grid_size;
using edat::cuda_impl::grid_stride;
using edat::cuda_impl::kThreadsPerBlock;

namespace {

struct PoolGeometry {
  std::int64_t H, W, P, Q;  // input and output spatial sizes
  std::int64_t kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w;
};

// y = the max over the window's in-image positions (padding is -inf); indices = h W + w of the maximum: the first
// one in row-major window order, or the last NaN (a NaN counts as the maximum), as on the CPU and in PyTorch.
template <class T>
__global__ void max_pool2d_forward_kernel(const T* x, T* y, std::int64_t* indices, std::int64_t n, PoolGeometry g) {
  for (std::int64_t i = first_index(); i < n; i += grid_stride()) {
    const std::int64_t q = i % g.Q, p = (i / g.Q) % g.P, plane = i / (g.P * g.Q);
    std::int64_t h0 = p * g.stride_h - g.pad_h, w0 = q * g.stride_w - g.pad_w;
    const std::int64_t h1 = min(h0 + (g.kernel_h - 1) * g.dilation_h + 1, g.H);
    const std::int64_t w1 = min(w0 + (g.kernel_w - 1) * g.dilation_w + 1, g.W);
    if (h0 < 0) h0 += (-h0 + g.dilation_h - 1) / g.dilation_h * g.dilation_h;  // first tap inside the image
    if (w0 < 0) w0 += (-w0 + g.dilation_w - 1) / g.dilation_w * g.dilation_w;
    const T* xp = x + plane * g.H * g.W;
    T best = -INFINITY;
    std::int64_t best_at = h0 * g.W + w0;
    for (std::int64_t h = h0; h < h1; h += g.dilation_h) {
      for (std::int64_t w = w0; w < w1; w += g.dilation_w) {
        const T v = xp[h * g.W + w];
        if (v > best || isnan(v)) best = v, best_at = h * g.W + w;
      }
    }
    y[i] = best;
    if (indices != nullptr) indices[i] = best_at;
  }
}

// dx[plane, indices[i]] += dy[i]: windows overlap when stride < kernel, so the adds are atomic (and their order,
// hence the rounding, changes from run to run).
template <class T>
__global__ void max_pool2d_backward_kernel(const T* dy, const std::int64_t* indices, T* dx, std::int64_t n,
                                           std::int64_t PQ, std::int64_t HW) {
  for (std::int64_t i = first_index(); i < n; i += grid_stride()) {
    const std::int64_t at = indices[i];
    if (at >= 0 && at < HW) atomicAdd(dx + (i / PQ) * HW + at, dy[i]);
  }
}

// ceil(a / b) for b > 0 and any sign of a.
__device__ inline std::int64_t ceil_div(std::int64_t a, std::int64_t b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); }

// The deterministic max-pool backward (tensor/determinism.h): each input element adds up dy of the windows whose
// maximum it is, in row-major window order, which is the order the CPU scatters in, so the bits are the CPU's.
// Window p spans rows [p s - pad, p s - pad + (k - 1) d], so only p in [ceil((h + pad - (k - 1) d) / s),
// floor((h + pad) / s)] can have chosen row h; the index comparison decides.
template <class T>
__global__ void max_pool2d_backward_gather_kernel(const T* dy, const std::int64_t* indices, T* dx, std::int64_t n,
                                                  PoolGeometry g) {
  for (std::int64_t i = first_index(); i < n; i += grid_stride()) {
    const std::int64_t w = i % g.W, h = (i / g.W) % g.H, plane = i / (g.H * g.W);
    const std::int64_t p0 = max(ceil_div(h + g.pad_h - (g.kernel_h - 1) * g.dilation_h, g.stride_h), std::int64_t{0});
    const std::int64_t p1 = min((h + g.pad_h) / g.stride_h, g.P - 1);
    const std::int64_t q0 = max(ceil_div(w + g.pad_w - (g.kernel_w - 1) * g.dilation_w, g.stride_w), std::int64_t{0});
    const std::int64_t q1 = min((w + g.pad_w) / g.stride_w, g.Q - 1);
    const std::int64_t at = h * g.W + w;
    const std::int64_t* ip = indices + plane * g.P * g.Q;
    const T* gp = dy + plane * g.P * g.Q;
    T sum = dx[i];
    for (std::int64_t p = p0; p <= p1; ++p) {
      for (std::int64_t q = q0; q <= q1; ++q) {
        if (ip[p * g.Q + q] == at) sum += gp[p * g.Q + q];
      }
    }
    dx[i] = sum;
  }
}

// Adaptive pooling window along one dim: [floor(i in / out), ceil((i + 1) in / out)).
__device__ inline std::int64_t window_start(std::int64_t i, std::int64_t in, std::int64_t out) { return i * in / out; }
__device__ inline std::int64_t window_end(std::int64_t i, std::int64_t in, std::int64_t out) {
  return ((i + 1) * in + out - 1) / out;
}

// y[i, j] = the mean of x over rows [h0, h1) and columns [w0, w1) of cell (i, j), summed in double like the CPU.
template <class T>
__global__ void adaptive_avg_pool2d_forward_kernel(const T* x, T* y, std::int64_t n, std::int64_t H, std::int64_t W,
                                                   std::int64_t OH, std::int64_t OW) {
  for (std::int64_t k = first_index(); k < n; k += grid_stride()) {
    const std::int64_t j = k % OW, i = (k / OW) % OH, plane = k / (OH * OW);
    const std::int64_t h0 = window_start(i, H, OH), h1 = window_end(i, H, OH);
    const std::int64_t w0 = window_start(j, W, OW), w1 = window_end(j, W, OW);
    const T* xp = x + plane * H * W;
    double sum = 0;
    for (std::int64_t h = h0; h < h1; ++h)
      for (std::int64_t w = w0; w < w1; ++w) sum += xp[h * W + w];
    y[k] = static_cast<T>(sum / static_cast<double>((h1 - h0) * (w1 - w0)));
  }
}

// dx[h, w] = the sum over the cells (i, j) whose window holds (h, w) of dy[i, j] / (window size). Cell i holds row
// h when start(i) <= h < end(i), i.e. for i in [floor(h OH / H), ceil((h + 1) OH / H)); the same for columns.
// Each thread gathers for one input element, so dx is overwritten without atomics.
template <class T>
__global__ void adaptive_avg_pool2d_backward_kernel(const T* dy, T* dx, std::int64_t n, std::int64_t H, std::int64_t W,
                                                    std::int64_t OH, std::int64_t OW) {
  for (std::int64_t k = first_index(); k < n; k += grid_stride()) {
    const std::int64_t w = k % W, h = (k / W) % H, plane = k / (H * W);
    const std::int64_t i0 = h * OH / H, i1 = min(((h + 1) * OH + H - 1) / H, OH);
    const std::int64_t j0 = w * OW / W, j1 = min(((w + 1) * OW + W - 1) / W, OW);
    const T* gp = dy + plane * OH * OW;
    T sum = 0;
    for (std::int64_t i = i0; i < i1; ++i) {
      const std::int64_t h0 = window_start(i, H, OH), h1 = window_end(i, H, OH);
      if (h < h0 || h >= h1) continue;
      for (std::int64_t j = j0; j < j1; ++j) {
        const std::int64_t w0 = window_start(j, W, OW), w1 = window_end(j, W, OW);
        if (w < w0 || w >= w1) continue;
        sum += static_cast<T>(gp[i * OW + j] / static_cast<double>((h1 - h0) * (w1 - w0)));
      }
    }
    dx[k] = sum;
  }
}

}  // namespace

void max_pool2d_forward(const Tensor& x, Tensor& y, Tensor& indices, const Pool2dOptions& o) {
  const std::int64_t n = y.numel();
  if (n == 0) return;
  const PoolGeometry g{x.size(2),  x.size(3),  y.size(2), y.size(3), o.kernel_h,   o.kernel_w,
                       o.stride_h, o.stride_w, o.pad_h,   o.pad_w,   o.dilation_h, o.dilation_w};
  dispatch_floating(x.dtype(), "max_pool2d", [&](auto zero) {
    using T = decltype(zero);
    max_pool2d_forward_kernel<T><<<grid_size(n), kThreadsPerBlock, 0, current_stream()>>>(
        static_cast<const T*>(x.raw_data()), static_cast<T*>(y.raw_data()),
        indices.defined() ? static_cast<std::int64_t*>(indices.raw_data()) : nullptr, n, g);
  });
  EDAT_CUDA_CHECK_LAUNCH();
}

void max_pool2d_backward(const Tensor& dy, const Tensor& indices, Tensor& dx, const Pool2dOptions& o) {
  const std::int64_t n = dy.numel();
  if (n == 0 || dx.numel() == 0) return;
  const std::int64_t PQ = dy.size(2) * dy.size(3), HW = dx.size(2) * dx.size(3);
  const PoolGeometry g{dx.size(2), dx.size(3), dy.size(2), dy.size(3), o.kernel_h,   o.kernel_w,
                       o.stride_h, o.stride_w, o.pad_h,     o.pad_w,     o.dilation_h, o.dilation_w};
  dispatch_floating(dy.dtype(), "max_pool2d backward", [&](auto zero) {
    using T = decltype(zero);
    const auto* grad = static_cast<const T*>(dy.raw_data());
    const auto* at = static_cast<const std::int64_t*>(indices.raw_data());
    auto* out = static_cast<T*>(dx.raw_data());
    if (deterministic()) {
      max_pool2d_backward_gather_kernel<T>
          <<<grid_size(dx.numel()), kThreadsPerBlock, 0, current_stream()>>>(grad, at, out, dx.numel(), g);
    } else {
      max_pool2d_backward_kernel<T><<<grid_size(n), kThreadsPerBlock, 0, current_stream()>>>(grad, at, out, n, PQ, HW);
    }
  });
  EDAT_CUDA_CHECK_LAUNCH();
}

void adaptive_avg_pool2d_forward(const Tensor& x, Tensor& y) {
  const std::int64_t n = y.numel();
  if (n == 0) return;
  dispatch_floating(x.dtype(), "adaptive_avg_pool2d", [&](auto zero) {
    using T = decltype(zero);
    adaptive_avg_pool2d_forward_kernel<T><<<grid_size(n), kThreadsPerBlock, 0, current_stream()>>>(
        static_cast<const T*>(x.raw_data()), static_cast<T*>(y.raw_data()), n, x.size(2), x.size(3), y.size(2),
        y.size(3));
  });
  EDAT_CUDA_CHECK_LAUNCH();
}

void adaptive_avg_pool2d_backward(const Tensor& dy, Tensor& dx) {
  const std::int64_t n = dx.numel();
  if (n == 0) return;
  dispatch_floating(dy.dtype(), "adaptive_avg_pool2d backward", [&](auto zero) {
    using T = decltype(zero);
    adaptive_avg_pool2d_backward_kernel<T><<<grid_size(n), kThreadsPerBlock, 0, current_stream()>>>(
        static_cast<const T*>(dy.raw_data()), static_cast<T*>(dx.raw_data()), n, dx.size(2), dx.size(3), dy.size(2),
        dy.size(3));
  });
  EDAT_CUDA_CHECK_LAUNCH();
}

}  // namespace edat::nn::cuda_impl
