// Same result as reference/conv2d_reference.cpp up to the order of the additions, for convolutions whose input
// planes are smaller than the kernel.
//
// A convolution with one group is linear in each sample's input (C, H, W) and produces its output (K, P, Q), so it is
// one matrix, the unrolled weights U (K P Q, C H W):
//   U[(k, p, q), (c, h, w)] = weight[k, c, r, s]  where  h = p sh - ph + r dh  and  w = q sw - pw + s dw
// (summed over the taps (r, s) that land there; zero where none does). In NCHW the samples are already the rows of
// matrices X (N, C H W) and Y (N, K P Q), so the three passes are three GEMMs, without im2col:
//   forward:          Y  = X @ U^T  (+ bias[k] on every (k, p, q))
//   backward data:    dX = dY @ U
//   backward filter:  dU = dY^T @ X, then dweight[k, c, r, s] = the sum of dU over the pairs tap (r, s) connects.
// Each costs N K C P Q H W multiply-adds against im2col's N K C P Q R S: fewer when H W < R S. A 2x2 plane under a
// 3x3 kernel at padding 1 (ResNet-18's last stage at 64 px) has 4 output pixels that each see the 4 input pixels:
// 16 products per channel pair where im2col makes 36, 20 of them with the padding's zeros.
#include "layers/cpu/unrolled_conv2d_cpu.h"

#include <algorithm>
#include <vector>

#include "layers/cpu/conv2d_work.h"
#include "tensor/cpu/cpu_backend.h"

namespace edat::nn::cpu_impl {

using edat::cpu_impl::kParallelGrain;

namespace {

// tap[o HW + i]: the tap r S + s that connects output pixel o = p Q + q to input pixel i = h W + w, or -1 for none.
// At most one does: h = p sh - ph + r dh fixes r, and w fixes s.
std::vector<std::int64_t> taps_between_pixels(const Geometry& g) {
  std::vector<std::int64_t> tap(static_cast<std::size_t>(g.pq() * g.hw()), -1);
  for (std::int64_t p = 0; p < g.P; ++p)
    for (std::int64_t q = 0; q < g.Q; ++q)
      for (std::int64_t r = 0; r < g.R; ++r)
        for (std::int64_t s = 0; s < g.S; ++s) {
          const std::int64_t h = p * g.sh - g.ph + r * g.dh, w = q * g.sw - g.pw + s * g.dw;
          if (h < 0 || h >= g.H || w < 0 || w >= g.W) continue;
          tap[static_cast<std::size_t>((p * g.Q + q) * g.hw() + h * g.W + w)] = r * g.S + s;
        }
  return tap;
}

// U (K P Q, C H W) from the weights (K, C, R, S), in the thread's scratch; written row by row, once each.
template <class T>
const T* unroll_weights(const T* weight, const Geometry& g) {
  const std::vector<std::int64_t> tap = taps_between_pixels(g);
  const std::int64_t columns = g.C * g.hw(), taps = g.R * g.S;
  T* u = scratch<T>(kColumns, g.K * g.pq() * columns);
#pragma omp parallel for schedule(static) if (g.K * g.pq() * columns > kParallelGrain)
  for (std::int64_t k = 0; k < g.K; ++k) {
    for (std::int64_t o = 0; o < g.pq(); ++o) {
      T* row = u + (k * g.pq() + o) * columns;
      const std::int64_t* tap_of = tap.data() + o * g.hw();
      for (std::int64_t c = 0; c < g.C; ++c) {
        const T* filter = weight + (k * g.C + c) * taps;
        for (std::int64_t i = 0; i < g.hw(); ++i) row[c * g.hw() + i] = tap_of[i] < 0 ? T(0) : filter[tap_of[i]];
      }
    }
  }
  return u;
}

}  // namespace

bool unrolled_applies(const Geometry& g) {
  const std::int64_t taps = g.R * g.S;
  return g.G == 1 && g.hw() < taps && g.pq() * g.hw() <= 2 * taps;
}

template <class T>
void unrolled_forward(const T* x, const T* w, const T* bias, T* y, const Geometry& g) {
  const std::int64_t in = g.C * g.hw(), out = g.K * g.pq();
  ConstMatrixMap<T> u(unroll_weights(w, g), out, in);
  gemm<T>(MatrixMap<T>(y, g.N, out), ConstMatrixMap<T>(x, g.N, in), u.transpose(), false);
  if (bias) add_bias(y, bias, g.N, g.K, g.pq());
}

template <class T>
void unrolled_backward_data(const T* dy, const T* w, T* dx, const Geometry& g) {
  const std::int64_t in = g.C * g.hw(), out = g.K * g.pq();
  ConstMatrixMap<T> u(unroll_weights(w, g), out, in);
  gemm<T>(MatrixMap<T>(dx, g.N, in), ConstMatrixMap<T>(dy, g.N, out), u, false);
}

template <class T>
void unrolled_backward_filter(const T* dy, const T* x, T* dw, const Geometry& g) {
  const std::int64_t in = g.C * g.hw(), out = g.K * g.pq();
  T* du = scratch<T>(kColumns, out * in);
  gemm<T>(MatrixMap<T>(du, out, in), ConstMatrixMap<T>(dy, g.N, out).transpose(), ConstMatrixMap<T>(x, g.N, in), false);
  const std::vector<std::int64_t> tap = taps_between_pixels(g);
  const std::int64_t taps = g.R * g.S;
#pragma omp parallel for schedule(static) if (out * in > kParallelGrain)
  for (std::int64_t k = 0; k < g.K; ++k) {
    T* filters = dw + k * g.C * taps;
    std::fill(filters, filters + g.C * taps, T(0));
    for (std::int64_t o = 0; o < g.pq(); ++o) {
      const T* row = du + (k * g.pq() + o) * in;
      const std::int64_t* tap_of = tap.data() + o * g.hw();
      for (std::int64_t c = 0; c < g.C; ++c)
        for (std::int64_t i = 0; i < g.hw(); ++i)
          if (tap_of[i] >= 0) filters[c * taps + tap_of[i]] += row[c * g.hw() + i];
    }
  }
}

template void unrolled_forward<float>(const float*, const float*, const float*, float*, const Geometry&);
template void unrolled_forward<double>(const double*, const double*, const double*, double*, const Geometry&);
template void unrolled_backward_data<float>(const float*, const float*, float*, const Geometry&);
template void unrolled_backward_data<double>(const double*, const double*, double*, const Geometry&);
template void unrolled_backward_filter<float>(const float*, const float*, float*, const Geometry&);
template void unrolled_backward_filter<double>(const double*, const double*, double*, const Geometry&);

}  // namespace edat::nn::cpu_impl
