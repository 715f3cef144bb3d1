// Direct depthwise convolution on the CPU (see depthwise_conv2d_cpu.h). With m = K / C outputs per input channel,
// output channel k reads input channel c = k / m:
//   y[n, k, p, q] = bias[k] + sum over (r, s) of w[k, r, s] x[n, c, p sh - ph + r dh, q sw - pw + s dw]
// and the two gradients follow the same index map backwards (dx scatters each output row onto the input rows it
// read; dw[k, r, s] is the dot product of dy's plane with the input plane shifted by (r, s)).
#include "layers/cpu/depthwise_conv2d_cpu.h"

#include <omp.h>

#include <Eigen/Core>
#include <algorithm>

#include "layers/cpu/conv2d_work.h"
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

// ---- The padded 3x3 path: MobileNetV2's layers (3x3, dilation 1, stride 1 or 2 in both directions) ----
// The per-tap loops above run along rows of 4 to 56 outputs, too short to vectorise well: they took 35% of a
// MobileNetV2 training step. Here each input plane is copied, zero-padded, into a buffer of the thread, (rows, cols)
// with the plane shifted by (ph, pw). Numbering outputs with the same row pitch, i = p cols + q, tap t = (r, s) of
// output i reads pad[stride i + r cols + s]: every pass becomes one long loop over i with nine fixed offsets, which
// vectorises whatever the plane's size. The columns q in [Q, cols) of that numbering are not outputs: their values
// are dropped (forward) or their gradients are zero (backward).

bool padded_3x3(const Geometry& g) {
  return g.R == 3 && g.S == 3 && g.dh == 1 && g.dw == 1 && g.sh == g.sw && (g.sw == 1 || g.sw == 2);
}

// What the P x Q outputs read of the input: rows [-ph, (P - 1) stride - ph + 3), columns likewise; `outputs` is the
// length of the output numbering up to the last output, (P - 1) cols + Q.
struct Padded {
  std::int64_t rows, cols, outputs;
  std::int64_t offset[9];  // of tap t = (r, s): r cols + s
  explicit Padded(const Geometry& g)
      : rows((g.P - 1) * g.sh + 3), cols((g.Q - 1) * g.sw + 3), outputs((g.P - 1) * cols + g.Q) {
    for (int t = 0; t < 9; ++t) offset[t] = (t / 3) * cols + t % 3;
  }
  std::int64_t size() const { return rows * cols; }
};

// out (rows x cols) = the plane (height x width) shifted by (top, left), zero around it; what falls outside is left
// out.
template <class T>
void pad_plane(const T* plane, std::int64_t height, std::int64_t width, std::int64_t top, std::int64_t left,
               std::int64_t rows, std::int64_t cols, T* out) {
  std::fill(out, out + rows * cols, T(0));
  const std::int64_t h_end = std::min(height, rows - top), w_end = std::min(width, cols - left);
  for (std::int64_t h = 0; h < h_end && w_end > 0; ++h)
    std::copy(plane + h * width, plane + h * width + w_end, out + (h + top) * cols + left);
}

template <int kStride, class T>
void forward_3x3(const T* x, const T* w, const T* bias, T* y, const Geometry& g) {
  const std::int64_t m = g.K / g.C, planes = g.N * g.K;
  const Padded e(g);
#pragma omp parallel for schedule(static) if (worth_threads(g))
  for (std::int64_t plane = 0; plane < planes; ++plane) {
    const std::int64_t n = plane / g.K, k = plane % g.K;
    T* pad = scratch<T>(kColumns, e.size());
    T* out = scratch<T>(kStaging, e.outputs);
    pad_plane(x + (n * g.C + k / m) * g.hw(), g.H, g.W, g.ph, g.pw, e.rows, e.cols, pad);
    const T* wk = w + k * 9;
    const T b = bias ? bias[k] : T(0);
    const std::int64_t* o = e.offset;
    for (std::int64_t i = 0; i < e.outputs; ++i) {
      const T* in = pad + kStride * i;
      out[i] = b + wk[0] * in[o[0]] + wk[1] * in[o[1]] + wk[2] * in[o[2]] + wk[3] * in[o[3]] + wk[4] * in[o[4]] +
               wk[5] * in[o[5]] + wk[6] * in[o[6]] + wk[7] * in[o[7]] + wk[8] * in[o[8]];
    }
    for (std::int64_t p = 0; p < g.P; ++p) std::copy_n(out + p * e.cols, g.Q, y + plane * g.pq() + p * g.Q);
  }
}

// At stride 2 the data gradient scatters: row[2 q + s] += w[s] g[q] for s = 0, 1, 2, one output row's share of a
// padded input row. The even columns take w0 g[j] + w2 g[j - 1] and the odd ones w1 g[j], one loop over pairs.
template <class T>
void scatter_row_stride_2(const T* g, const T* w, std::int64_t Q, T* row) {
  row[0] += w[0] * g[0];
  row[1] += w[1] * g[0];
  for (std::int64_t j = 1; j < Q; ++j) {
    row[2 * j] += w[0] * g[j] + w[2] * g[j - 1];
    row[2 * j + 1] += w[1] * g[j];
  }
  row[2 * Q] += w[2] * g[Q - 1];
}

// sums (rows x cols) = the gradient of the padded plane, then the plane's part of it (input the outputs never read
// gets 0). At stride 1 it is a gather over the output numbering: sums[j] = the sum over taps of w[t] dy[j - offset[t]],
// with dy laid out in that numbering (zero in the columns that are not outputs and outside the plane).
template <int kStride, class T>
void backward_data_3x3(const T* dy, const T* w, T* dx, const Geometry& g) {
  const std::int64_t m = g.K / g.C, planes = g.N * g.C;
  const Padded e(g);
  const std::int64_t margin = e.offset[8];  // zeros before the numbered gradient, so that j - offset[t] >= 0
#pragma omp parallel for schedule(static) if (worth_threads(g))
  for (std::int64_t plane = 0; plane < planes; ++plane) {
    const std::int64_t n = plane / g.C, c = plane % g.C;
    T* sums = scratch<T>(kColumns, e.size());
    std::fill(sums, sums + e.size(), T(0));
    for (std::int64_t k = c * m; k < (c + 1) * m; ++k) {
      const T* grad = dy + (n * g.K + k) * g.pq();
      const T* wk = w + k * 9;
      if (kStride == 1) {
        T* numbered = scratch<T>(kStaging, margin + e.size());
        pad_plane(grad, g.P, g.Q, 0, 0, e.rows, e.cols, numbered + margin);
        std::fill(numbered, numbered + margin, T(0));
        const T* at = numbered + margin;
        const std::int64_t* o = e.offset;
        for (std::int64_t j = 0; j < e.size(); ++j)
          sums[j] += wk[0] * at[j - o[0]] + wk[1] * at[j - o[1]] + wk[2] * at[j - o[2]] + wk[3] * at[j - o[3]] +
                     wk[4] * at[j - o[4]] + wk[5] * at[j - o[5]] + wk[6] * at[j - o[6]] + wk[7] * at[j - o[7]] +
                     wk[8] * at[j - o[8]];
      } else {
        for (std::int64_t p = 0; p < g.P; ++p)
          for (int r = 0; r < 3; ++r)
            scatter_row_stride_2(grad + p * g.Q, wk + r * 3, g.Q, sums + (p * kStride + r) * e.cols);
      }
    }
    T* out = dx + plane * g.hw();
    for (std::int64_t h = 0; h < g.H; ++h) {
      T* row = out + h * g.W;
      const std::int64_t ph = h + g.ph;
      const std::int64_t w_end = ph < e.rows ? std::clamp<std::int64_t>(e.cols - g.pw, 0, g.W) : 0;
      std::copy(sums + ph * e.cols + g.pw, sums + ph * e.cols + g.pw + w_end, row);
      std::fill(row + w_end, row + g.W, T(0));
    }
  }
}

// dw[k, t] = the sum over samples of dot(dy in the output numbering, pad[stride i + offset[t]]), kept in kLanes
// partial sums per tap so that the loop vectorises without reordering a sum.
template <int kStride, class T>
void backward_filter_3x3(const T* dy, const T* x, T* dw, const Geometry& g) {
  constexpr std::int64_t kLanes = 16;
  const std::int64_t m = g.K / g.C;
  const Padded e(g);
#pragma omp parallel for schedule(static) if (worth_threads(g))
  for (std::int64_t k = 0; k < g.K; ++k) {
    T partial[9][kLanes] = {};
    T* pad = scratch<T>(kColumns, e.size());
    T* numbered = scratch<T>(kStaging, e.size());
    for (std::int64_t n = 0; n < g.N; ++n) {
      pad_plane(x + (n * g.C + k / m) * g.hw(), g.H, g.W, g.ph, g.pw, e.rows, e.cols, pad);
      pad_plane(dy + (n * g.K + k) * g.pq(), g.P, g.Q, 0, 0, e.rows, e.cols, numbered);
      for (int t = 0; t < 9; ++t) {
        const T* in = pad + e.offset[t];
        T* lanes = partial[t];
        std::int64_t i0 = 0;
        for (; i0 + kLanes <= e.outputs; i0 += kLanes)
          for (std::int64_t l = 0; l < kLanes; ++l) lanes[l] += numbered[i0 + l] * in[kStride * (i0 + l)];
        for (std::int64_t l = 0; i0 + l < e.outputs; ++l) lanes[l] += numbered[i0 + l] * in[kStride * (i0 + l)];
      }
    }
    for (int t = 0; t < 9; ++t) {
      T total = 0;
      for (std::int64_t l = 0; l < kLanes; ++l) total += partial[t][l];
      dw[k * 9 + t] = total;
    }
  }
}

}  // namespace

template <class T>
void depthwise_forward(const T* x, const T* w, const T* bias, T* y, const Geometry& g) {
  if (padded_3x3(g)) return g.sw == 1 ? forward_3x3<1>(x, w, bias, y, g) : forward_3x3<2>(x, w, bias, y, g);
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
  if (padded_3x3(g)) return g.sw == 1 ? backward_data_3x3<1>(dy, w, dx, g) : backward_data_3x3<2>(dy, w, dx, g);
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
  if (padded_3x3(g)) return g.sw == 1 ? backward_filter_3x3<1>(dy, x, dw, g) : backward_filter_3x3<2>(dy, x, dw, g);
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
  template void depthwise_backward_data<T>(const T*, const T*, T*, const Geometry&);     \
  template void depthwise_backward_filter<T>(const T*, const T*, T*, const Geometry&);
EDAT_DEPTHWISE_INSTANTIATE(float)
EDAT_DEPTHWISE_INSTANTIATE(double)
#undef EDAT_DEPTHWISE_INSTANTIATE

}  // namespace edat::nn::cpu_impl
