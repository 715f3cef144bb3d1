// Direct depthwise convolution on the CPU (see depthwise_conv2d_cpu.h). With m = K / C outputs per input channel,
// output channel k reads input channel c = k / m:
//   y[n, k, p, q] = bias[k] + sum over (r, s) of w[k, r, s] x[n, c, p sh - ph + r dh, q sw - pw + s dw]
// and the two gradients follow the same index map backwards (dx scatters each output row onto the input rows it
// read; dw[k, r, s] is the dot product of dy's plane with the input plane shifted by (r, s)).
#include "layers/cpu/depthwise_conv2d_cpu.h"

#include <omp.h>

#include <Eigen/Core>
#include <algorithm>

#include "tensor/cpu/cpu_backend.h"

namespace edat::nn::cpu_impl {

namespace {

// Planes below this many multiply-adds in all run on one thread.
constexpr double kParallelMacs = 1 << 18;

bool worth_threads(const Geometry& g) {
  return static_cast<double>(g.N * g.K * g.R * g.S * g.pq()) >= kParallelMacs && !omp_in_parallel();
}

// Calls visit(p, tap, in, first, count) for every output row p and kernel tap = r S + s that reads inside the
// image: output columns [first, first + count) of row p read the input plane at in + i sw, i = 0 .. count - 1.
// The one index map all three kernels walk.
template <class F>
void for_each_tap(const Geometry& g, F&& visit) {
  for (std::int64_t p = 0; p < g.P; ++p) {
    for (std::int64_t r = 0; r < g.R; ++r) {
      const std::int64_t h = p * g.sh - g.ph + r * g.dh;
      if (h < 0 || h >= g.H) continue;
      for (std::int64_t s = 0; s < g.S; ++s) {
        const std::int64_t offset = s * g.dw - g.pw;
        std::int64_t first = 0, last = 0;
        g.valid_q(offset, first, last);
        if (first < last) visit(p, r * g.S + s, h * g.W + first * g.sw + offset, first, last - first);
      }
    }
  }
}

}  // namespace

template <class T>
void depthwise_forward(const T* x, const T* w, const T* bias, T* y, const Geometry& g) {
  const std::int64_t m = g.K / g.C, planes = g.N * g.K;
#pragma omp parallel for schedule(static) if (worth_threads(g))
  for (std::int64_t plane = 0; plane < planes; ++plane) {
    const std::int64_t n = plane / g.K, k = plane % g.K;
    const T* x_plane = x + (n * g.C + k / m) * g.hw();
    const T* w_k = w + k * g.R * g.S;
    T* y_plane = y + plane * g.pq();
    std::fill(y_plane, y_plane + g.pq(), bias ? bias[k] : T(0));
    for_each_tap(g, [&](std::int64_t p, std::int64_t tap, std::int64_t in, std::int64_t first, std::int64_t count) {
      const T weight = w_k[tap];
      const T* src = x_plane + in;
      T* out = y_plane + p * g.Q + first;
      if (g.sw == 1) {
        for (std::int64_t i = 0; i < count; ++i) out[i] += weight * src[i];
      } else {
        for (std::int64_t i = 0; i < count; ++i) out[i] += weight * src[i * g.sw];
      }
    });
  }
}

// Each input plane (n, c) is written by one thread: it adds the m output planes that read it, row by row.
template <class T>
void depthwise_backward_data(const T* dy, const T* w, T* dx, const Geometry& g) {
  const std::int64_t m = g.K / g.C, planes = g.N * g.C;
#pragma omp parallel for schedule(static) if (worth_threads(g))
  for (std::int64_t plane = 0; plane < planes; ++plane) {
    const std::int64_t n = plane / g.C, c = plane % g.C;
    T* dx_plane = dx + plane * g.hw();
    std::fill(dx_plane, dx_plane + g.hw(), T(0));
    for (std::int64_t k = c * m; k < (c + 1) * m; ++k) {
      const T* dy_plane = dy + (n * g.K + k) * g.pq();
      const T* w_k = w + k * g.R * g.S;
      for_each_tap(g, [&](std::int64_t p, std::int64_t tap, std::int64_t in, std::int64_t first, std::int64_t count) {
        const T weight = w_k[tap];
        const T* grad = dy_plane + p * g.Q + first;
        T* out = dx_plane + in;
        if (g.sw == 1) {
          for (std::int64_t i = 0; i < count; ++i) out[i] += weight * grad[i];
        } else {
          for (std::int64_t i = 0; i < count; ++i) out[i * g.sw] += weight * grad[i];
        }
      });
    }
  }
}

// Each filter k is computed by one thread: dw[k, tap] = the sum over (n, p) of the dot product of dy's row p with the
// input it read through the tap (Eigen's dot products, vectorised also for a stride of 2).
template <class T>
void depthwise_backward_filter(const T* dy, const T* x, T* dw, const Geometry& g) {
  using Strided = Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, 1>, 0, Eigen::InnerStride<>>;
  using Contiguous = Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, 1>>;
  const std::int64_t m = g.K / g.C;
#pragma omp parallel for schedule(static) if (worth_threads(g))
  for (std::int64_t k = 0; k < g.K; ++k) {
    T* dw_k = dw + k * g.R * g.S;
    std::fill(dw_k, dw_k + g.R * g.S, T(0));
    for (std::int64_t n = 0; n < g.N; ++n) {
      const T* dy_plane = dy + (n * g.K + k) * g.pq();
      const T* x_plane = x + (n * g.C + k / m) * g.hw();
      for_each_tap(g, [&](std::int64_t p, std::int64_t tap, std::int64_t in, std::int64_t first, std::int64_t count) {
        const Contiguous grad(dy_plane + p * g.Q + first, count);
        dw_k[tap] += grad.dot(Strided(x_plane + in, count, Eigen::InnerStride<>(g.sw)));
      });
    }
  }
}

#define EDAT_DEPTHWISE_INSTANTIATE(T)                                                    \
  template void depthwise_forward<T>(const T*, const T*, const T*, T*, const Geometry&); \
  template void depthwise_backward_data<T>(const T*, const T*, T*, const Geometry&);    \
  template void depthwise_backward_filter<T>(const T*, const T*, T*, const Geometry&);
EDAT_DEPTHWISE_INSTANTIATE(float)
EDAT_DEPTHWISE_INSTANTIATE(double)
#undef EDAT_DEPTHWISE_INSTANTIATE

}  // namespace edat::nn::cpu_impl
