// Same result as reference/conv2d_reference.cpp (the direct loops), made fast by lowering the convolution to
// im2col + Eigen GEMM for the forward and the filter gradient, GEMM + col2im for the data gradient, in chunks of
// samples sized for the cache and threads that each take their own samples (docs/learn/02-convolution.md).
// Depthwise convolutions (one input channel per group) go to the direct kernels of depthwise_conv2d_cpu.h instead,
// all three passes of 3x3 stride-1 convolutions to Winograd's F(2x2, 3x3) (winograd_conv2d_cpu.h), and those of
// planes smaller than their kernel to one dense layer (unrolled_conv2d_cpu.h).
//
// Per group g (weights W_g: (Kg, Cg R S)) and a chunk of nb samples, the column matrix holds one row per (c, r, s)
// and one column per (n, p, q), zero in the padding:
//   col[(c, r, s), (n, p, q)] = x[n, g Cg + c, p sh - ph + r dh, q sw - pw + s dw]
// Then
//   forward:          y_g  (Kg, nb P Q)   = W_g @ col
//   backward data:    dcol (Cg R S, nb P Q) = W_g^T @ dy_g, then col2im sums dcol back onto dx
//   backward filter:  dW_g (Kg, Cg R S)  += dy_g @ col^T   (summed over the chunks)
// Several samples share one GEMM so that it stays wide when P Q is small (ResNet's last stage at 112 px input is 4x4:
// per-sample GEMMs 16 columns wide run at a fraction of the peak), while chunks stay small enough for the column
// matrix to live in cache between im2col and the GEMM. A chunk of one sample reads and writes NCHW directly; a wider
// chunk stages its (K, nb P Q) result and scatters it. A 1x1, stride-1, unpadded convolution of one sample needs no
// im2col: the input plane is already the matrix.
//
// Threads: when the batch allows, each thread takes its own samples and runs im2col, single-threaded GEMMs and
// col2im on them with no synchronisation (two such threads run at twice the one-thread rate, where Eigen's parallel
// GEMM gains little on these shapes); the filter gradient is then summed over the threads' partial sums. Otherwise
// (one sample, or too few columns per thread) the samples are processed together, im2col runs in parallel over rows
// and each GEMM is cut into one block per thread.
#include <omp.h>

#include <Eigen/Core>
#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "layers/cpu/conv2d_geometry.h"
#include "layers/cpu/conv2d_work.h"
#include "layers/cpu/cpu_layer_kernels.h"
#include "layers/cpu/depthwise_conv2d_cpu.h"
#include "layers/cpu/unrolled_conv2d_cpu.h"
#include "layers/cpu/winograd_conv2d_cpu.h"
#include "tensor/cpu/cpu_backend.h"

namespace edat::nn::cpu_impl {

using edat::cpu_impl::dispatch_floating;
using edat::cpu_impl::kParallelGrain;

namespace {

// The column buffer of one chunk (per thread) stays under this size (unless one sample alone needs more).
std::size_t column_budget_bytes = std::size_t{16} << 20;

// Samples per chunk out of `samples`: enough for a GEMM kTargetWidth wide, within the column budget, spread evenly.
std::int64_t chunk_size(const Geometry& g, std::int64_t samples, std::size_t element_size) {
  const std::int64_t pq = std::max<std::int64_t>(g.pq(), 1);
  const auto per_sample = static_cast<std::size_t>(std::max<std::int64_t>(g.crs() * pq, 1)) * element_size;
  const std::int64_t wide = (kTargetWidth + pq - 1) / pq;
  const auto fit = static_cast<std::int64_t>(std::min<std::size_t>(column_budget_bytes / per_sample, 1 << 30));
  const std::int64_t nb = std::clamp<std::int64_t>(std::min(wide, fit), 1, samples);
  const std::int64_t chunks = (samples + nb - 1) / nb;
  return (samples + chunks - 1) / chunks;
}

// col (Cg R S, nb P Q) from samples [n0, n0 + nb) of group grp; parallel over rows.
template <class T>
void im2col(const T* x, T* col, const Geometry& g, std::int64_t n0, std::int64_t nb, std::int64_t grp) {
  const std::int64_t rows = g.crs(), width = nb * g.pq();
#pragma omp parallel for schedule(static) if (rows * width > kParallelGrain)
  for (std::int64_t row = 0; row < rows; ++row) {
    const std::int64_t c = row / (g.R * g.S), r = row / g.S % g.R, s = row % g.S;
    const std::int64_t w_offset = s * g.dw - g.pw;
    std::int64_t q0, q1;
    g.valid_q(w_offset, q0, q1);
    T* out = col + row * width;
    for (std::int64_t n = 0; n < nb; ++n) {
      const T* plane = x + ((n0 + n) * g.C + grp * g.Cg + c) * g.hw();
      for (std::int64_t p = 0; p < g.P; ++p, out += g.Q) {
        const std::int64_t h = p * g.sh - g.ph + r * g.dh;
        if (h < 0 || h >= g.H) {
          std::fill(out, out + g.Q, T(0));
          continue;
        }
        const T* in = plane + h * g.W + w_offset;
        std::fill(out, out + q0, T(0));
        if (g.sw == 1) {
          std::memcpy(out + q0, in + q0, static_cast<std::size_t>(q1 - q0) * sizeof(T));
        } else {
          for (std::int64_t q = q0; q < q1; ++q) out[q] = in[q * g.sw];
        }
        std::fill(out + q1, out + g.Q, T(0));
      }
    }
  }
}

// dx planes of samples [n0, n0 + nb), group grp = the sum of dcol's entries over every (r, s) landing on each
// pixel (overwrites those planes); parallel over planes, each written by one thread.
template <class T>
void col2im(const T* dcol, T* dx, const Geometry& g, std::int64_t n0, std::int64_t nb, std::int64_t grp) {
  const std::int64_t width = nb * g.pq();
#pragma omp parallel for schedule(static) if (nb * g.crs() * g.pq() > kParallelGrain)
  for (std::int64_t plane_index = 0; plane_index < nb * g.Cg; ++plane_index) {
    const std::int64_t n = plane_index / g.Cg, c = plane_index % g.Cg;
    T* plane = dx + ((n0 + n) * g.C + grp * g.Cg + c) * g.hw();
    std::fill(plane, plane + g.hw(), T(0));
    for (std::int64_t r = 0; r < g.R; ++r) {
      for (std::int64_t s = 0; s < g.S; ++s) {
        const std::int64_t w_offset = s * g.dw - g.pw;
        std::int64_t q0, q1;
        g.valid_q(w_offset, q0, q1);
        const T* in = dcol + ((c * g.R + r) * g.S + s) * width + n * g.pq();
        for (std::int64_t p = 0; p < g.P; ++p, in += g.Q) {
          const std::int64_t h = p * g.sh - g.ph + r * g.dh;
          if (h < 0 || h >= g.H) continue;
          T* out = plane + h * g.W + w_offset;
          if (g.sw == 1) {
            for (std::int64_t q = q0; q < q1; ++q) out[q] += in[q];
          } else {
            for (std::int64_t q = q0; q < q1; ++q) out[q * g.sw] += in[q];
          }
        }
      }
    }
  }
}

// staged (K, nb P Q) <- t (N, K, P Q) for samples [n0, n0 + nb), or the reverse (scatter, plus a per-channel bias).
template <class T>
void gather_chunk(const T* t, T* staged, std::int64_t K, std::int64_t PQ, std::int64_t n0, std::int64_t nb) {
#pragma omp parallel for schedule(static) if (K * nb * PQ > kParallelGrain)
  for (std::int64_t k = 0; k < K; ++k)
    for (std::int64_t n = 0; n < nb; ++n)
      std::memcpy(staged + (k * nb + n) * PQ, t + ((n0 + n) * K + k) * PQ, static_cast<std::size_t>(PQ) * sizeof(T));
}
template <class T>
void scatter_chunk(const T* staged, const T* bias, T* t, std::int64_t K, std::int64_t PQ, std::int64_t n0,
                   std::int64_t nb) {
#pragma omp parallel for schedule(static) if (K * nb * PQ > kParallelGrain)
  for (std::int64_t k = 0; k < K; ++k) {
    const T b = bias ? bias[k] : T(0);
    for (std::int64_t n = 0; n < nb; ++n) {
      const T* in = staged + (k * nb + n) * PQ;
      T* out = t + ((n0 + n) * K + k) * PQ;
      for (std::int64_t i = 0; i < PQ; ++i) out[i] = in[i] + b;
    }
  }
}

// The im2col matrix (C/G * R * S rows, nb * P * Q columns) of samples n0 .. n0 + nb - 1 for group grp: a 1x1
// stride-1 convolution of one sample reads x itself, anything else is unfolded into the thread's scratch buffer.
template <class T>
const T* columns_of(const T* x, const Geometry& g, std::int64_t n0, std::int64_t nb, std::int64_t grp,
                    std::int64_t width) {
  if (g.pointwise() && nb == 1) return x + (n0 * g.C + grp * g.Cg) * g.hw();
  T* buffer = scratch<T>(kColumns, g.crs() * width);
  im2col(x, buffer, g, n0, nb, grp);
  return buffer;
}

// y for samples [first, last).
template <class T>
void forward_samples(const T* x, const T* w, const T* bias, T* y, const Geometry& g, std::int64_t first,
                     std::int64_t last) {
  const std::int64_t nb_max = chunk_size(g, last - first, sizeof(T));
  for (std::int64_t n0 = first; n0 < last; n0 += nb_max) {
    const std::int64_t nb = std::min(nb_max, last - n0), width = nb * g.pq();
    T* staged = nb > 1 ? scratch<T>(kStaging, g.K * width) : nullptr;
    for (std::int64_t grp = 0; grp < g.G; ++grp) {
      const T* col = columns_of(x, g, n0, nb, grp, width);
      ConstMatrixMap<T> weight(w + grp * g.Kg * g.crs(), g.Kg, g.crs());
      ConstMatrixMap<T> columns(col, g.crs(), width);
      T* out = nb > 1 ? staged + grp * g.Kg * width : y + (n0 * g.K + grp * g.Kg) * g.pq();
      gemm<T>(MatrixMap<T>(out, g.Kg, width), weight, columns, false);
    }
    if (nb > 1) {
      scatter_chunk(staged, bias, y, g.K, g.pq(), n0, nb);
    } else if (bias) {
      add_bias(y + n0 * g.K * g.pq(), bias, 1, g.K, g.pq());
    }
  }
}

// dx for samples [first, last) (overwritten).
template <class T>
void backward_data_samples(const T* dy, const T* w, T* dx, const Geometry& g, std::int64_t first, std::int64_t last) {
  const std::int64_t nb_max = chunk_size(g, last - first, sizeof(T));
  for (std::int64_t n0 = first; n0 < last; n0 += nb_max) {
    const std::int64_t nb = std::min(nb_max, last - n0), width = nb * g.pq();
    const T* dy_chunk = dy + n0 * g.K * g.pq();  // (K, P Q) when nb == 1
    if (nb > 1) {
      T* staged = scratch<T>(kStaging, g.K * width);
      gather_chunk(dy, staged, g.K, g.pq(), n0, nb);
      dy_chunk = staged;
    }
    for (std::int64_t grp = 0; grp < g.G; ++grp) {
      ConstMatrixMap<T> weight(w + grp * g.Kg * g.crs(), g.Kg, g.crs());
      ConstMatrixMap<T> grad_out(dy_chunk + grp * g.Kg * width, g.Kg, width);
      if (g.pointwise() && nb == 1) {
        gemm<T>(MatrixMap<T>(dx + (n0 * g.C + grp * g.Cg) * g.hw(), g.Cg, g.hw()), weight.transpose(), grad_out, false);
        continue;
      }
      T* dcol = scratch<T>(kColumns, g.crs() * width);
      gemm<T>(MatrixMap<T>(dcol, g.crs(), width), weight.transpose(), grad_out, false);
      col2im(dcol, dx, g, n0, nb, grp);
    }
  }
}

// dw (overwritten) = the filter gradient summed over samples [first, last).
template <class T>
void backward_filter_samples(const T* dy, const T* x, T* dw, const Geometry& g, std::int64_t first, std::int64_t last) {
  if (first == last) return std::fill(dw, dw + g.K * g.crs(), T(0));
  const std::int64_t nb_max = chunk_size(g, last - first, sizeof(T));
  for (std::int64_t n0 = first; n0 < last; n0 += nb_max) {
    const std::int64_t nb = std::min(nb_max, last - n0), width = nb * g.pq();
    const T* dy_chunk = dy + n0 * g.K * g.pq();
    if (nb > 1) {
      T* staged = scratch<T>(kStaging, g.K * width);
      gather_chunk(dy, staged, g.K, g.pq(), n0, nb);
      dy_chunk = staged;
    }
    for (std::int64_t grp = 0; grp < g.G; ++grp) {
      const T* col = columns_of(x, g, n0, nb, grp, width);
      ConstMatrixMap<T> grad_out(dy_chunk + grp * g.Kg * width, g.Kg, width);
      ConstMatrixMap<T> columns(col, g.crs(), width);
      MatrixMap<T> grad_weight(dw + grp * g.Kg * g.crs(), g.Kg, g.crs());
      gemm<T>(grad_weight, grad_out, columns.transpose(), n0 > first);
    }
  }
}

template <class T>
void forward(const T* x, const T* w, const T* bias, T* y, const Geometry& g) {
  for_each_sample_share(sample_threads(g), g.N, [&](std::int64_t first, std::int64_t last, int) {
    forward_samples(x, w, bias, y, g, first, last);
  });
}

template <class T>
void backward_data(const T* dy, const T* w, T* dx, const Geometry& g) {
  for_each_sample_share(sample_threads(g), g.N, [&](std::int64_t first, std::int64_t last, int) {
    backward_data_samples(dy, w, dx, g, first, last);
  });
}

// Thread 0 sums its samples into dw, thread t > 0 into partial sum t - 1; then dw += the partial sums.
template <class T>
void backward_filter(const T* dy, const T* x, T* dw, const Geometry& g) {
  const int threads = sample_threads(g);
  const std::int64_t size = g.K * g.crs();
  T* partials = threads > 1 ? scratch<T>(kPartials, (threads - 1) * size) : nullptr;
  const int ran = for_each_sample_share(threads, g.N, [&](std::int64_t first, std::int64_t last, int thread) {
    backward_filter_samples(dy, x, thread == 0 ? dw : partials + (thread - 1) * size, g, first, last);
  });
#pragma omp parallel for schedule(static) if (ran > 1 && size * (ran - 1) > kParallelGrain)
  for (std::int64_t i = 0; i < size; ++i)
    for (int t = 1; t < ran; ++t) dw[i] += partials[(t - 1) * size + i];
}

}  // namespace

void set_conv2d_column_budget(std::size_t bytes) { column_budget_bytes = bytes; }
std::size_t conv2d_column_budget() { return column_budget_bytes; }

void CpuLayerKernels::conv2d_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& y,
                                     const Conv2dOptions& options) {
  const Geometry g(x, weight, y, options);
  dispatch_floating(x.dtype(), "conv2d", [&](auto tag) {
    using T = decltype(tag);
    const T* b = bias.defined() ? bias.data<T>() : nullptr;
    if (g.depthwise()) return depthwise_forward(x.data<T>(), weight.data<T>(), b, y.data<T>(), g);
    if (unrolled_applies(g)) return unrolled_forward(x.data<T>(), weight.data<T>(), b, y.data<T>(), g);
    if (winograd_applies(g)) return winograd_forward(x.data<T>(), weight.data<T>(), b, y.data<T>(), g);
    forward(x.data<T>(), weight.data<T>(), b, y.data<T>(), g);
  });
}

void CpuLayerKernels::conv2d_backward_data(const Tensor& dy, const Tensor& weight, Tensor& dx,
                                           const Conv2dOptions& options) {
  const Geometry g(dx, weight, dy, options);
  dispatch_floating(dy.dtype(), "conv2d backward", [&](auto tag) {
    using T = decltype(tag);
    if (g.depthwise()) return depthwise_backward_data(dy.data<T>(), weight.data<T>(), dx.data<T>(), g);
    if (unrolled_applies(g)) return unrolled_backward_data(dy.data<T>(), weight.data<T>(), dx.data<T>(), g);
    if (winograd_applies(g)) return winograd_backward_data(dy.data<T>(), weight.data<T>(), dx.data<T>(), g);
    backward_data(dy.data<T>(), weight.data<T>(), dx.data<T>(), g);
  });
}

void CpuLayerKernels::conv2d_backward_filter(const Tensor& dy, const Tensor& x, Tensor& dweight,
                                             const Conv2dOptions& options) {
  const Geometry g(x, dweight, dy, options);
  dispatch_floating(dy.dtype(), "conv2d backward", [&](auto tag) {
    using T = decltype(tag);
    if (g.depthwise()) return depthwise_backward_filter(dy.data<T>(), x.data<T>(), dweight.data<T>(), g);
    if (unrolled_applies(g)) return unrolled_backward_filter(dy.data<T>(), x.data<T>(), dweight.data<T>(), g);
    if (winograd_applies(g)) return winograd_backward_filter(dy.data<T>(), x.data<T>(), dweight.data<T>(), g);
    backward_filter(dy.data<T>(), x.data<T>(), dweight.data<T>(), g);
  });
}

}  // namespace edat::nn::cpu_impl
