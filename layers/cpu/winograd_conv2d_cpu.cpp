// Same result as reference/conv2d_reference.cpp up to rounding, for 3x3 kernels at stride 1, made fast by Winograd's
// minimal filtering F(2x2, 3x3) (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", 2016): 16
// multiplications for each 2x2 block of outputs and input channel, where the direct sum takes 36.
//
// For one input channel, a 4x4 input tile d and a 3x3 filter g give the 2x2 outputs
//   Y = A^T [ (G g G^T) .* (B^T d B) ] A        (.* element by element)
// with
//   B^T = [1  0 -1  0]     G = [ 1    0    0 ]     A^T = [1  1  1  0]
//         [0  1  1  0]         [1/2  1/2  1/2]           [0  1 -1 -1]
//         [0 -1  1  0]         [1/2 -1/2  1/2]
//         [0  1  0 -1]         [ 0    0    1 ]
// Tiles start every 2 pixels (they overlap by 2), at (2 i - ph, 2 j - pw) in the input, zero outside it. Summed over
// the input channels, the element-wise products become 16 matrix products, one per element e of a 4x4 tile:
//   M_e (K, T) = U_e (K, C) @ V_e (C, T),   U_e[k, c] = (G g_kc G^T)_e,   V_e[c, t] = (B^T d_ct B)_e
// over the T tiles of a chunk of samples. These GEMMs are where the time goes; the three transforms are short
// loops of additions. Compared with im2col's (K, 9 C) @ (9 C, 4 T) GEMM for the same outputs, 16 K C T against
// 36 K C T multiply-adds: 2.25x fewer (less at odd output sizes, whose last tiles are half used).
//
// The data gradient of a stride-1 convolution is itself a stride-1 convolution: of dy, with the weights flipped in
// both spatial directions and their in and out channels swapped, at padding 2 - ph, giving dx. So it runs here too.
// The filter gradient runs the transforms backwards (winograd_backward_filter below): 16 GEMMs again.
//
// Work sharing is conv2d_cpu.cpp's: threads take their own samples when the batch allows; otherwise the 16 GEMMs and
// the transforms' planes are shared out between the threads.
//
// Rounding: the transforms add and halve a few terms, so the result can differ from the direct sum by a few units in
// the last place of the largest terms; tests/test_layers.cpp bounds it against the reference kernels in f32 and f64.
#include "layers/cpu/winograd_conv2d_cpu.h"

#include <omp.h>

#include <Eigen/Core>
#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <string>
#include <vector>

#include "layers/cpu/conv2d_work.h"
#include "layers/cpu/cpu_layer_kernels.h"
#include "tensor/cpu/cpu_backend.h"

namespace edat::nn::cpu_impl {

using edat::cpu_impl::kParallelGrain;

namespace {

// On unless EDAT_CONV_WINOGRAD=0 (to compare against im2col in a benchmark or a whole run).
std::atomic<bool> winograd_enabled{[] {
  const char* value = std::getenv("EDAT_CONV_WINOGRAD");
  return value == nullptr || std::string(value) != "0";
}()};

constexpr int kElements = 16;               // of a transformed 4x4 tile
constexpr std::int64_t kTargetTiles = 512;  // tiles per chunk: the GEMMs' width
// V and M of a chunk stay under this (or the column budget, when smaller): at 256 channels and 512 tiles they would
// take 16 MiB per thread, more than im2col's columns of the same outputs and more than the width gains.
constexpr std::size_t kChunkBytes = std::size_t{4} << 20;
constexpr std::int64_t kMinTiles = 256;     // in a batch, for the weights' transform to pay for itself

// A stride-1 3x3 convolution: in (N, Cin, Hin, Win) -> out (N, Cout, Hout, Wout), padding (ph, pw).
struct Problem {
  std::int64_t N, Cin, Hin, Win, Cout, Hout, Wout, ph, pw;
  std::int64_t tiles_h() const { return (Hout + 1) / 2; }
  std::int64_t tiles_w() const { return (Wout + 1) / 2; }
  std::int64_t tiles() const { return tiles_h() * tiles_w(); }  // per sample
};

template <class T>
using RowMajor = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// A small per-thread buffer for the transforms' rows (a few rows of one plane).
template <class T>
T* row_buffer(std::int64_t count) {
  thread_local std::vector<T> buffer;
  if (static_cast<std::int64_t>(buffer.size()) < count) buffer.resize(static_cast<std::size_t>(count));
  return buffer.data();
}

// u (16, Cout, Cin): U_e[o, i] = (G g G^T)_e for the 3x3 filters g of output channel o, which taps(o, g9) writes as
// g9[(3 r + s) Cin + i] (tap by tap, so that every loop below runs along the input channels and vectorises).
template <class T, class Taps>
void transform_weights(const Problem& p, Taps taps, T* u) {
  const std::int64_t C = p.Cin, e_stride = p.Cout * p.Cin;
#pragma omp parallel for schedule(static) if (p.Cout * p.Cin * kElements > kParallelGrain)
  for (std::int64_t o = 0; o < p.Cout; ++o) {
    T* g = row_buffer<T>(21 * C);  // the 9 taps, then G g (4 x 3)
    taps(o, g);
    T* gg = g + 9 * C;
    for (int s = 0; s < 3; ++s) {  // G g
      const T *g0 = g + s * C, *g1 = g + (3 + s) * C, *g2 = g + (6 + s) * C;
      T *r0 = gg + s * C, *r1 = gg + (3 + s) * C, *r2 = gg + (6 + s) * C, *r3 = gg + (9 + s) * C;
      for (std::int64_t i = 0; i < C; ++i) {
        r0[i] = g0[i];
        r1[i] = (g0[i] + g1[i] + g2[i]) * T(0.5);
        r2[i] = (g0[i] - g1[i] + g2[i]) * T(0.5);
        r3[i] = g2[i];
      }
    }
    for (int r = 0; r < 4; ++r) {  // (G g) G^T
      const T *a = gg + (3 * r) * C, *b = gg + (3 * r + 1) * C, *c = gg + (3 * r + 2) * C;
      T* out = u + (r * 4) * e_stride + o * C;
      for (std::int64_t i = 0; i < C; ++i) {
        out[i] = a[i];
        out[e_stride + i] = (a[i] + b[i] + c[i]) * T(0.5);
        out[2 * e_stride + i] = (a[i] - b[i] + c[i]) * T(0.5);
        out[3 * e_stride + i] = c[i];
      }
    }
  }
}

// v (16, Cin, tiles): V_e[c, t] = (B^T d B)_e for the 4x4 input tile d of every tile t of samples [n0, n0 + nb).
// A row of tiles at a time, so that every loop runs along a row and vectorises: the four input rows it covers are
// copied with their padding, B^T combines them element by element, then B combines columns 2j .. 2j + 3 of each.
template <class T>
void transform_inputs(const T* x, const Problem& p, std::int64_t n0, std::int64_t nb, T* v) {
  const std::int64_t width = nb * p.tiles(), e_stride = p.Cin * width, TW = p.tiles_w();
  const std::int64_t span = 2 * TW + 2;  // input columns covered by a row of tiles, from -pw
#pragma omp parallel for schedule(static) if (nb * p.Cin * p.tiles() * kElements > kParallelGrain)
  for (std::int64_t plane = 0; plane < nb * p.Cin; ++plane) {
    const std::int64_t n = plane / p.Cin, c = plane % p.Cin;
    const T* in = x + ((n0 + n) * p.Cin + c) * p.Hin * p.Win;
    T* rows = row_buffer<T>(8 * span);  // d's four rows, then B^T d's
    const std::int64_t w_first = std::min(p.pw, span), w_last = std::min(span, p.pw + p.Win);  // inside [0, Win)
    for (std::int64_t th = 0; th < p.tiles_h(); ++th) {
      for (int r = 0; r < 4; ++r) {
        T* row = rows + r * span;
        const std::int64_t h = 2 * th - p.ph + r;
        std::fill(row, row + span, T(0));
        if (h >= 0 && h < p.Hin && w_last > w_first)
          std::copy(in + h * p.Win + (w_first - p.pw), in + h * p.Win + (w_last - p.pw), row + w_first);
      }
      const T *d0 = rows, *d1 = rows + span, *d2 = rows + 2 * span, *d3 = rows + 3 * span;
      T *b0 = rows + 4 * span, *b1 = rows + 5 * span, *b2 = rows + 6 * span, *b3 = rows + 7 * span;
      for (std::int64_t j = 0; j < span; ++j) {  // B^T d
        b0[j] = d0[j] - d2[j];
        b1[j] = d1[j] + d2[j];
        b2[j] = d2[j] - d1[j];
        b3[j] = d1[j] - d3[j];
      }
      T* out = v + c * width + n * p.tiles() + th * TW;
      for (int r = 0; r < 4; ++r) {  // (B^T d) B
        const T* b = rows + (4 + r) * span;
        T *o0 = out + (r * 4 + 0) * e_stride, *o1 = out + (r * 4 + 1) * e_stride;
        T *o2 = out + (r * 4 + 2) * e_stride, *o3 = out + (r * 4 + 3) * e_stride;
        for (std::int64_t j = 0; j < TW; ++j) {
          o0[j] = b[2 * j] - b[2 * j + 2];
          o1[j] = b[2 * j + 1] + b[2 * j + 2];
          o2[j] = b[2 * j + 2] - b[2 * j + 1];
          o3[j] = b[2 * j + 1] - b[2 * j + 3];
        }
      }
    }
  }
}

// out planes of samples [n0, n0 + nb) = A^T m A (+ bias) for every tile, from m (16, Cout, tiles); a row of tiles at
// a time, as above. The last row and column of tiles are cut off at odd output sizes.
template <class T>
void transform_outputs(const T* m, const T* bias, const Problem& p, std::int64_t n0, std::int64_t nb, T* y) {
  const std::int64_t width = nb * p.tiles(), e_stride = p.Cout * width, TW = p.tiles_w();
#pragma omp parallel for schedule(static) if (nb * p.Cout * p.tiles() * kElements > kParallelGrain)
  for (std::int64_t plane = 0; plane < nb * p.Cout; ++plane) {
    const std::int64_t n = plane / p.Cout, k = plane % p.Cout;
    T* out = y + ((n0 + n) * p.Cout + k) * p.Hout * p.Wout;
    const T b = bias ? bias[k] : T(0);
    T* rows = row_buffer<T>(10 * TW);  // A^T m: 2 x 4 rows of TW, then one output row of 2 TW
    for (std::int64_t th = 0; th < p.tiles_h(); ++th) {
      const T* in = m + k * width + n * p.tiles() + th * TW;
      for (int s = 0; s < 4; ++s) {  // A^T m, column s of every tile
        const T *m0 = in + (0 * 4 + s) * e_stride, *m1 = in + (1 * 4 + s) * e_stride;
        const T *m2 = in + (2 * 4 + s) * e_stride, *m3 = in + (3 * 4 + s) * e_stride;
        T *a0 = rows + s * TW, *a1 = rows + (4 + s) * TW;
        for (std::int64_t j = 0; j < TW; ++j) {
          a0[j] = m0[j] + m1[j] + m2[j];
          a1[j] = m1[j] - m2[j] - m3[j];
        }
      }
      for (int r = 0; r < 2; ++r) {  // (A^T m) A
        const std::int64_t h = 2 * th + r;
        if (h >= p.Hout) break;
        const T *a0 = rows + (4 * r + 0) * TW, *a1 = rows + (4 * r + 1) * TW;
        const T *a2 = rows + (4 * r + 2) * TW, *a3 = rows + (4 * r + 3) * TW;
        T* row = rows + 8 * TW;
        for (std::int64_t j = 0; j < TW; ++j) {
          row[2 * j] = a0[j] + a1[j] + a2[j] + b;
          row[2 * j + 1] = a1[j] - a2[j] - a3[j] + b;
        }
        std::copy(row, row + p.Wout, out + h * p.Wout);
      }
    }
  }
}

// z (16, Cout, tiles): Z_e[k, t] = (A dY A^T)_e for the 2x2 block dY of output gradients of every tile t of samples
// [n0, n0 + nb) (zero past odd output sizes): the filter gradient's counterpart of the output transform.
template <class T>
void transform_output_gradients(const T* dy, const Problem& p, std::int64_t n0, std::int64_t nb, T* z) {
  const std::int64_t width = nb * p.tiles(), e_stride = p.Cout * width, TW = p.tiles_w();
#pragma omp parallel for schedule(static) if (nb * p.Cout * p.tiles() * kElements > kParallelGrain)
  for (std::int64_t plane = 0; plane < nb * p.Cout; ++plane) {
    const std::int64_t n = plane / p.Cout, k = plane % p.Cout;
    const T* in = dy + ((n0 + n) * p.Cout + k) * p.Hout * p.Wout;
    T* rows = row_buffer<T>(12 * TW);  // dY's two rows, then A dY's four, each 2 TW long
    for (std::int64_t th = 0; th < p.tiles_h(); ++th) {
      T *y0 = rows, *y1 = rows + 2 * TW;
      for (int r = 0; r < 2; ++r) {
        T* row = rows + r * 2 * TW;
        std::fill(row, row + 2 * TW, T(0));
        if (2 * th + r < p.Hout) std::copy(in + (2 * th + r) * p.Wout, in + (2 * th + r + 1) * p.Wout, row);
      }
      T *a0 = rows + 4 * TW, *a1 = rows + 6 * TW, *a2 = rows + 8 * TW, *a3 = rows + 10 * TW;
      for (std::int64_t j = 0; j < 2 * TW; ++j) {  // A dY
        a0[j] = y0[j];
        a1[j] = y0[j] + y1[j];
        a2[j] = y0[j] - y1[j];
        a3[j] = -y1[j];
      }
      T* out = z + k * width + n * p.tiles() + th * TW;
      for (int r = 0; r < 4; ++r) {  // (A dY) A^T
        const T* a = rows + (4 + 2 * r) * TW;
        T *o0 = out + (r * 4 + 0) * e_stride, *o1 = out + (r * 4 + 1) * e_stride;
        T *o2 = out + (r * 4 + 2) * e_stride, *o3 = out + (r * 4 + 3) * e_stride;
        for (std::int64_t j = 0; j < TW; ++j) {
          o0[j] = a[2 * j];
          o1[j] = a[2 * j] + a[2 * j + 1];
          o2[j] = a[2 * j] - a[2 * j + 1];
          o3[j] = -a[2 * j + 1];
        }
      }
    }
  }
}

// Samples per chunk: enough tiles for wide GEMMs, with V and M within the column budget, spread evenly.
std::int64_t chunk_size(const Problem& p, std::int64_t samples, std::size_t element_size) {
  const std::int64_t tiles = std::max<std::int64_t>(p.tiles(), 1);
  const std::size_t per_sample = static_cast<std::size_t>(kElements * (p.Cin + p.Cout) * tiles) * element_size;
  const std::int64_t wide = (kTargetTiles + tiles - 1) / tiles;
  const std::size_t budget = std::min(conv2d_column_budget(), kChunkBytes);
  const auto fit = static_cast<std::int64_t>(std::min<std::size_t>(budget / per_sample, 1 << 30));
  const std::int64_t nb = std::clamp<std::int64_t>(std::min(wide, fit), 1, samples);
  const std::int64_t chunks = (samples + nb - 1) / nb;
  return (samples + chunks - 1) / chunks;
}

// Calls body(n0, nb, width, v, o) for each chunk of samples [first, last) in turn: v (16, Cin, width) holds the
// chunk's transformed input tiles, o is room for (16, Cout, width) of the body's own.
template <class T, class Body>
void for_each_chunk(const T* in, const Problem& p, std::int64_t first, std::int64_t last, Body body) {
  const std::int64_t nb_max = chunk_size(p, last - first, sizeof(T));
  for (std::int64_t n0 = first; n0 < last; n0 += nb_max) {
    const std::int64_t nb = std::min(nb_max, last - n0), width = nb * p.tiles();
    T* v = scratch<T>(kWinogradInputs, kElements * p.Cin * width);
    T* o = scratch<T>(kWinogradProducts, kElements * p.Cout * width);
    transform_inputs(in, p, n0, nb, v);
    body(n0, nb, width, v, o);
  }
}

// out = the convolution of `in` with the filters that taps() gives (+ bias), `threads` taking samples.
template <class T, class Taps>
void run(const T* in, Taps taps, const T* bias, T* out, const Problem& p, int threads) {
  T* u = scratch<T>(kWinogradWeights, kElements * p.Cout * p.Cin);
  transform_weights(p, taps, u);
  for_each_sample_share(threads, p.N, [&](std::int64_t first, std::int64_t last, int) {
    for_each_chunk(in, p, first, last, [&](std::int64_t n0, std::int64_t nb, std::int64_t width, T* v, T* m) {
      // One GEMM per element; shared out between the threads unless they already took samples of their own.
#pragma omp parallel for schedule(static) if (threads == 1)
      for (int e = 0; e < kElements; ++e) {
        Eigen::Map<RowMajor<T>>(m + e * p.Cout * width, p.Cout, width).noalias() =
            Eigen::Map<const RowMajor<T>>(u + e * p.Cout * p.Cin, p.Cout, p.Cin) *
            Eigen::Map<const RowMajor<T>>(v + e * p.Cin * width, p.Cin, width);
      }
      transform_outputs(m, bias, p, n0, nb, out);
    });
  });
}

}  // namespace

void set_conv2d_winograd(bool enabled) { winograd_enabled = enabled; }
bool conv2d_winograd() { return winograd_enabled; }

bool winograd_applies(const Geometry& g) {
  const bool shape = g.R == 3 && g.S == 3 && g.sh == 1 && g.sw == 1 && g.dh == 1 && g.dw == 1 && g.G == 1;
  const bool channels = g.C >= 16 && g.K >= 16;
  const bool padding = g.ph <= 2 && g.pw <= 2;  // the data gradient's padding 2 - ph must not be negative
  return winograd_enabled && shape && channels && padding && g.N * ((g.P + 1) / 2) * ((g.Q + 1) / 2) >= kMinTiles;
}

template <class T>
void winograd_forward(const T* x, const T* w, const T* bias, T* y, const Geometry& g) {
  const Problem p{g.N, g.C, g.H, g.W, g.K, g.P, g.Q, g.ph, g.pw};
  const auto taps = [&](std::int64_t k, T* g9) {  // weight[k, c, r, s]
    for (std::int64_t c = 0; c < g.C; ++c)
      for (int rs = 0; rs < 9; ++rs) g9[rs * g.C + c] = w[(k * g.C + c) * 9 + rs];
  };
  run(x, taps, bias, y, p, sample_threads(g));
}

template <class T>
void winograd_backward_data(const T* dy, const T* w, T* dx, const Geometry& g) {
  const Problem p{g.N, g.K, g.P, g.Q, g.C, g.H, g.W, 2 - g.ph, 2 - g.pw};
  // Output channel c, input channel k of the transposed problem: weight[k, c], flipped in both directions (tap
  // (r, s) is the weight's (2 - r, 2 - s), that is 8 - rs).
  const auto taps = [&](std::int64_t c, T* g9) {
    for (std::int64_t k = 0; k < g.K; ++k)
      for (int rs = 0; rs < 9; ++rs) g9[rs * g.K + k] = w[(k * g.C + c) * 9 + (8 - rs)];
  };
  run(dy, taps, static_cast<const T*>(nullptr), dx, p, sample_threads(g));
}

// The filter gradient, by the same transforms run backwards. With Y = A^T (U .* V) A and U = G g G^T, the gradient
// of sum(dY .* Y) is dU = (A dY A^T) .* V for one tile and channel pair, and dg = G^T dU G. Summed over the tiles:
//   dU_e (K, C) = Z_e (K, T) @ V_e (C, T)^T,   Z_e[k, t] = (A dY_kt A^T)_e
// again 16 GEMMs, 2.25x smaller than im2col's dy (K, 4 T) @ col (4 T, 9 C). Threads that take samples of their own
// sum into their own dU; the sums are added, then G^T dU G gives each 3x3 filter gradient.
template <class T>
void winograd_backward_filter(const T* dy, const T* x, T* dw, const Geometry& g) {
  const Problem p{g.N, g.C, g.H, g.W, g.K, g.P, g.Q, g.ph, g.pw};
  const int threads = sample_threads(g);
  const std::int64_t size = kElements * g.K * g.C;
  T* sums = scratch<T>(kWinogradWeights, threads * size);
  const int ran = for_each_sample_share(threads, g.N, [&](std::int64_t first, std::int64_t last, int thread) {
    T* du = sums + thread * size;
    std::fill(du, du + size, T(0));
    for_each_chunk(x, p, first, last, [&](std::int64_t n0, std::int64_t nb, std::int64_t width, T* v, T* z) {
      transform_output_gradients(dy, p, n0, nb, z);
#pragma omp parallel for schedule(static) if (threads == 1)
      for (int e = 0; e < kElements; ++e) {
        Eigen::Map<RowMajor<T>>(du + e * g.K * g.C, g.K, g.C).noalias() +=
            Eigen::Map<const RowMajor<T>>(z + e * g.K * width, g.K, width) *
            Eigen::Map<const RowMajor<T>>(v + e * g.C * width, g.C, width).transpose();
      }
    });
  });
#pragma omp parallel for schedule(static) if (g.K * g.C * kElements > kParallelGrain)
  for (std::int64_t k = 0; k < g.K; ++k) {
    for (std::int64_t c = 0; c < g.C; ++c) {
      T u[4][4];
      for (int e = 0; e < kElements; ++e) {
        T total = sums[(e * g.K + k) * g.C + c];
        for (int t = 1; t < ran; ++t) total += sums[t * size + (e * g.K + k) * g.C + c];
        u[e / 4][e % 4] = total;
      }
      T gu[3][4];  // G^T dU
      for (int s = 0; s < 4; ++s) {
        gu[0][s] = u[0][s] + (u[1][s] + u[2][s]) * T(0.5);
        gu[1][s] = (u[1][s] - u[2][s]) * T(0.5);
        gu[2][s] = (u[1][s] + u[2][s]) * T(0.5) + u[3][s];
      }
      T* out = dw + (k * g.C + c) * 9;
      for (int r = 0; r < 3; ++r) {  // (G^T dU) G
        out[r * 3 + 0] = gu[r][0] + (gu[r][1] + gu[r][2]) * T(0.5);
        out[r * 3 + 1] = (gu[r][1] - gu[r][2]) * T(0.5);
        out[r * 3 + 2] = (gu[r][1] + gu[r][2]) * T(0.5) + gu[r][3];
      }
    }
  }
}

template void winograd_forward<float>(const float*, const float*, const float*, float*, const Geometry&);
template void winograd_forward<double>(const double*, const double*, const double*, double*, const Geometry&);
template void winograd_backward_data<float>(const float*, const float*, float*, const Geometry&);
template void winograd_backward_data<double>(const double*, const double*, double*, const Geometry&);
template void winograd_backward_filter<float>(const float*, const float*, float*, const Geometry&);
template void winograd_backward_filter<double>(const double*, const double*, double*, const Geometry&);

}  // namespace edat::nn::cpu_impl
