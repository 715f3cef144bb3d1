// Pooling by its definition, one output cell at a time.
//   max pooling:       y = the max over the window's taps inside the image (padding is -inf); the index is the flat
//                      h W + w of the first maximum (a NaN counts as the maximum, as in PyTorch); the backward adds dy
//                      to that one input element.
//   adaptive average:  cell (i, j) averages rows [floor(i H / OH), ceil((i + 1) H / OH)) and the same for columns;
//                      the backward shares dy equally among the window's elements.
#include <cmath>
#include <limits>

#include "layers/reference/reference_layer_kernels.h"
#include "tensor/cpu/cpu_backend.h"

namespace edat::nn::reference {

using edat::cpu_impl::dispatch_floating;

namespace {

std::int64_t window_start(std::int64_t i, std::int64_t in, std::int64_t out) { return i * in / out; }
std::int64_t window_end(std::int64_t i, std::int64_t in, std::int64_t out) { return ((i + 1) * in + out - 1) / out; }

}  // namespace

void ReferenceLayerKernels::max_pool2d_forward(const Tensor& x, Tensor& y, Tensor& indices, const Pool2dOptions& o) {
  const std::int64_t planes = x.size(0) * x.size(1), H = x.size(2), W = x.size(3), P = y.size(2), Q = y.size(3);
  dispatch_floating(x.dtype(), "max_pool2d (reference)", [&](auto tag) {
    using T = decltype(tag);
    for (std::int64_t plane = 0; plane < planes; ++plane) {
      const T* xp = x.data<T>() + plane * H * W;
      for (std::int64_t p = 0; p < P; ++p)
        for (std::int64_t q = 0; q < Q; ++q) {
          T best = -std::numeric_limits<T>::infinity();
          std::int64_t best_at = -1;
          for (std::int64_t r = 0; r < o.kernel_h; ++r)
            for (std::int64_t s = 0; s < o.kernel_w; ++s) {
              const std::int64_t h = p * o.stride_h - o.pad_h + r * o.dilation_h;
              const std::int64_t w = q * o.stride_w - o.pad_w + s * o.dilation_w;
              if (h < 0 || h >= H || w < 0 || w >= W) continue;
              const T v = xp[h * W + w];
              if (best_at < 0 || v > best || std::isnan(v)) best = v, best_at = h * W + w;
            }
          y.data<T>()[(plane * P + p) * Q + q] = best;
          if (indices.defined()) indices.data<std::int64_t>()[(plane * P + p) * Q + q] = best_at;
        }
    }
  });
}

void ReferenceLayerKernels::max_pool2d_backward(const Tensor& dy, const Tensor& indices, Tensor& dx,
                                                const Pool2dOptions&) {
  const std::int64_t planes = dx.size(0) * dx.size(1), HW = dx.size(2) * dx.size(3), PQ = dy.size(2) * dy.size(3);
  dispatch_floating(dy.dtype(), "max_pool2d backward (reference)", [&](auto tag) {
    using T = decltype(tag);
    for (std::int64_t plane = 0; plane < planes; ++plane)
      for (std::int64_t i = 0; i < PQ; ++i)
        dx.data<T>()[plane * HW + indices.data<std::int64_t>()[plane * PQ + i]] += dy.data<T>()[plane * PQ + i];
  });
}

void ReferenceLayerKernels::adaptive_avg_pool2d_forward(const Tensor& x, Tensor& y) {
  const std::int64_t planes = x.size(0) * x.size(1), H = x.size(2), W = x.size(3), OH = y.size(2), OW = y.size(3);
  dispatch_floating(x.dtype(), "adaptive_avg_pool2d (reference)", [&](auto tag) {
    using T = decltype(tag);
    for (std::int64_t plane = 0; plane < planes; ++plane)
      for (std::int64_t i = 0; i < OH; ++i)
        for (std::int64_t j = 0; j < OW; ++j) {
          const std::int64_t h0 = window_start(i, H, OH), h1 = window_end(i, H, OH);
          const std::int64_t w0 = window_start(j, W, OW), w1 = window_end(j, W, OW);
          double sum = 0;
          for (std::int64_t h = h0; h < h1; ++h)
            for (std::int64_t w = w0; w < w1; ++w) sum += x.data<T>()[(plane * H + h) * W + w];
          y.data<T>()[(plane * OH + i) * OW + j] = static_cast<T>(sum / static_cast<double>((h1 - h0) * (w1 - w0)));
        }
  });
}

void ReferenceLayerKernels::adaptive_avg_pool2d_backward(const Tensor& dy, Tensor& dx) {
  const std::int64_t planes = dx.size(0) * dx.size(1), H = dx.size(2), W = dx.size(3), OH = dy.size(2), OW = dy.size(3);
  dispatch_floating(dy.dtype(), "adaptive_avg_pool2d backward (reference)", [&](auto tag) {
    using T = decltype(tag);
    T* gx = dx.data<T>();
    for (std::int64_t k = 0; k < dx.numel(); ++k) gx[k] = T(0);
    for (std::int64_t plane = 0; plane < planes; ++plane)
      for (std::int64_t i = 0; i < OH; ++i)
        for (std::int64_t j = 0; j < OW; ++j) {
          const std::int64_t h0 = window_start(i, H, OH), h1 = window_end(i, H, OH);
          const std::int64_t w0 = window_start(j, W, OW), w1 = window_end(j, W, OW);
          const double share = dy.data<T>()[(plane * OH + i) * OW + j] / static_cast<double>((h1 - h0) * (w1 - w0));
          for (std::int64_t h = h0; h < h1; ++h)
            for (std::int64_t w = w0; w < w1; ++w) gx[(plane * H + h) * W + w] += static_cast<T>(share);
        }
  });
}

}  // namespace edat::nn::reference
