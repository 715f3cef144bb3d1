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
// the transforms' channels are shared out between the threads.
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
constexpr std::int64_t kMinTiles = 64;  // in a batch, for the weights' transform to pay for itself

// A stride-1 3x3 convolution: in (N, Cin, Hin, Win) -> out (N, Cout, Hout, Wout), padding (ph, pw).
struct Problem {
  std::int64_t N, Cin, Hin, Win, Cout, Hout, Wout, ph, pw;
  std::int64_t tiles_h() const { return (Hout + 1) / 2; }
  std::int64_t tiles_w() const { return (Wout + 1) / 2; }
  std::int64_t tiles() const { return tiles_h() * tiles_w(); }  // per sample
};

// A per-thread buffer for the transforms' intermediate rows (up to 16 rows as long as a chunk's tiles), kept
// between calls.
template <class T>
T* row_buffer(std::int64_t count) {
  thread_local std::vector<T> buffer;
  if (static_cast<std::int64_t>(buffer.size()) < count) buffer.resize(static_cast<std::size_t>(count));
  return buffer.data();
}

// The transforms apply a 1-D transform twice: along the columns of every tile (combining its rows), then along its
// rows. Each application is one stride-1 loop over all the filters, or all the tiles of a chunk, at once: loops along
// one row of 2 to 14 tiles would leave most of the work to scalar remainders. The arrays a helper below reads and
// writes do not overlap (__restrict, so that its loop vectorises without a run-time check for each pair).

// o = G g for the 3-vectors g of n filters: g0, (g0 + g1 + g2) / 2, (g0 - g1 + g2) / 2, g2.
template <class T>
void times_g(const T* __restrict g0, const T* __restrict g1, const T* __restrict g2, T* __restrict o0, T* __restrict o1,
             T* __restrict o2, T* __restrict o3, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) {
    o0[i] = g0[i];
    o1[i] = (g0[i] + g1[i] + g2[i]) * T(0.5);
    o2[i] = (g0[i] - g1[i] + g2[i]) * T(0.5);
    o3[i] = g2[i];
  }
}

// o = G^T u for the 4-vectors u of n filters: u0 + (u1 + u2) / 2, (u1 - u2) / 2, (u1 + u2) / 2 + u3.
template <class T>
void times_gt(const T* __restrict u0, const T* __restrict u1, const T* __restrict u2, const T* __restrict u3,
              T* __restrict o0, T* __restrict o1, T* __restrict o2, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) {
    o0[i] = u0[i] + (u1[i] + u2[i]) * T(0.5);
    o1[i] = (u1[i] - u2[i]) * T(0.5);
    o2[i] = (u1[i] + u2[i]) * T(0.5) + u3[i];
  }
}

// o = B^T d for the 4-vectors d of n tiles: d0 - d2, d1 + d2, d2 - d1, d1 - d3.
template <class T>
void times_bt(const T* __restrict d0, const T* __restrict d1, const T* __restrict d2, const T* __restrict d3,
              T* __restrict o0, T* __restrict o1, T* __restrict o2, T* __restrict o3, std::int64_t n) {
  for (std::int64_t t = 0; t < n; ++t) {
    o0[t] = d0[t] - d2[t];
    o1[t] = d1[t] + d2[t];
    o2[t] = d2[t] - d1[t];
    o3[t] = d1[t] - d3[t];
  }
}

// o = A^T m for the 4-vectors m of n tiles: m0 + m1 + m2, m1 - m2 - m3.
template <class T>
void times_at(const T* __restrict m0, const T* __restrict m1, const T* __restrict m2, const T* __restrict m3,
              T* __restrict o0, T* __restrict o1, std::int64_t n) {
  for (std::int64_t t = 0; t < n; ++t) {
    o0[t] = m0[t] + m1[t] + m2[t];
    o1[t] = m1[t] - m2[t] - m3[t];
  }
}

// o = A y for the 2-vectors y of n tiles: y0, y0 + y1, y0 - y1, -y1.
template <class T>
void times_a(const T* __restrict y0, const T* __restrict y1, T* __restrict o0, T* __restrict o1, T* __restrict o2,
             T* __restrict o3, std::int64_t n) {
  for (std::int64_t t = 0; t < n; ++t) {
    o0[t] = y0[t];
    o1[t] = y0[t] + y1[t];
    o2[t] = y0[t] - y1[t];
    o3[t] = -y1[t];
  }
}

// u (16, Cout, Cin): U_e[o, i] = (G g G^T)_e for the 3x3 filters g of output channel o, which taps(o, g9) writes as
// g9[(3 r + s) Cin + i] (tap by tap, so that the transforms run along the input channels).
template <class T, class Taps>
void transform_weights(const Problem& p, Taps taps, T* u) {
  const std::int64_t C = p.Cin, e_stride = p.Cout * p.Cin;
#pragma omp parallel for schedule(static) if (p.Cout * p.Cin * kElements > kParallelGrain)
  for (std::int64_t o = 0; o < p.Cout; ++o) {
    T* g = row_buffer<T>(21 * C);  // the 9 taps, then G g (4 x 3)
    taps(o, g);
    const auto tap = [&](int r, int s) { return g + (3 * r + s) * C; };
    const auto gg = [&](int r, int s) { return g + (9 + 3 * r + s) * C; };
    for (int s = 0; s < 3; ++s) times_g(tap(0, s), tap(1, s), tap(2, s), gg(0, s), gg(1, s), gg(2, s), gg(3, s), C);
    for (int r = 0; r < 4; ++r) {
      T* ue = u + 4 * r * e_stride + o * C;
      times_g(gg(r, 0), gg(r, 1), gg(r, 2), ue, ue + e_stride, ue + 2 * e_stride, ue + 3 * e_stride, C);
    }
  }
}

// v (16, Cin, width): V_e[c, t] = (B^T d B)_e for the 4x4 input tile d of every tile t of samples [n0, n0 + nb)
// (width = nb tiles()). Per input channel: each sample's plane is copied with its padding, B^T combines the 4 input
// rows under each row of tiles (element (r, s) of tile (th, tw) is the padded pixel (2 th + r, 2 tw + s)), and the
// combined rows are split by column into 16 rows of `width`, one per element; then B^T runs along the tiles' rows.
template <class T>
void transform_inputs(const T* x, const Problem& p, std::int64_t n0, std::int64_t nb, T* v) {
  const std::int64_t tiles = p.tiles(), width = nb * tiles, e_stride = p.Cin * width;
  const std::int64_t TH = p.tiles_h(), TW = p.tiles_w();
  const std::int64_t rows = 2 * TH + 2, span = 2 * TW + 2;  // the padded input the tiles cover
  const std::int64_t w_first = std::min(p.pw, span), w_last = std::min(span, p.pw + p.Win);  // inside [0, Win)
#pragma omp parallel for schedule(static) if (width * p.Cin * kElements > kParallelGrain)
  for (std::int64_t c = 0; c < p.Cin; ++c) {
    T* bd = row_buffer<T>(kElements * width + (rows + 4) * span);  // B^T d; the padded plane; one row of tiles' B^T d
    T *plane = bd + kElements * width, *combined = plane + rows * span;
    const auto element = [&](int r, int s) { return bd + (4 * r + s) * width; };
    for (std::int64_t n = 0; n < nb; ++n) {
      const T* in = x + ((n0 + n) * p.Cin + c) * p.Hin * p.Win;
      for (std::int64_t h = 0; h < rows; ++h) {
        T* line = plane + h * span;
        std::fill(line, line + span, T(0));
        const std::int64_t h_in = h - p.ph;
        if (h_in >= 0 && h_in < p.Hin && w_last > w_first)
          std::copy(in + h_in * p.Win + (w_first - p.pw), in + h_in * p.Win + (w_last - p.pw), line + w_first);
      }
      for (std::int64_t th = 0; th < TH; ++th) {
        const T* d = plane + 2 * th * span;
        T* b = combined;
        times_bt(d, d + span, d + 2 * span, d + 3 * span, b, b + span, b + 2 * span, b + 3 * span, span);
        for (int r = 0; r < 4; ++r, b += span) {
          T *o0 = element(r, 0) + n * tiles + th * TW, *o1 = element(r, 1) + n * tiles + th * TW;
          T *o2 = element(r, 2) + n * tiles + th * TW, *o3 = element(r, 3) + n * tiles + th * TW;
          for (std::int64_t tw = 0; tw < TW; ++tw) {
            o0[tw] = b[2 * tw];
            o1[tw] = b[2 * tw + 1];
            o2[tw] = b[2 * tw + 2];
            o3[tw] = b[2 * tw + 3];
          }
        }
      }
    }
    for (int r = 0; r < 4; ++r) {
      T* o = v + 4 * r * e_stride + c * width;
      times_bt(element(r, 0), element(r, 1), element(r, 2), element(r, 3), o, o + e_stride, o + 2 * e_stride,
               o + 3 * e_stride, width);
    }
  }
}

// out planes of samples [n0, n0 + nb) = A^T m A (+ bias) for every tile, from m (16, Cout, width): per output
// channel, A^T runs over the whole chunk into the 2x2 outputs of every tile, which interleave into the output rows.
// The last row and column of tiles are cut off at odd output sizes.
template <class T>
void transform_outputs(const T* m, const T* bias, const Problem& p, std::int64_t n0, std::int64_t nb, T* y) {
  const std::int64_t tiles = p.tiles(), width = nb * tiles, e_stride = p.Cout * width, TW = p.tiles_w();
#pragma omp parallel for schedule(static) if (width * p.Cout * kElements > kParallelGrain)
  for (std::int64_t k = 0; k < p.Cout; ++k) {
    T* rows = row_buffer<T>(12 * width);  // A^T m: 2 x 4 rows, then A^T m A: 2 x 2
    const auto me = [&](int r, int s) { return m + (4 * r + s) * e_stride + k * width; };
    const auto row = [&](int r, int s) { return rows + (4 * r + s) * width; };
    const auto yy = [&](int r, int s) { return rows + (8 + 2 * r + s) * width; };
    for (int s = 0; s < 4; ++s) times_at(me(0, s), me(1, s), me(2, s), me(3, s), row(0, s), row(1, s), width);
    for (int r = 0; r < 2; ++r) times_at(row(r, 0), row(r, 1), row(r, 2), row(r, 3), yy(r, 0), yy(r, 1), width);
    const T b = bias ? bias[k] : T(0);
    for (std::int64_t n = 0; n < nb; ++n) {
      T* out = y + ((n0 + n) * p.Cout + k) * p.Hout * p.Wout;
      for (std::int64_t h = 0; h < p.Hout; ++h) {
        const T *even = yy(h % 2, 0) + n * tiles + h / 2 * TW, *odd = yy(h % 2, 1) + n * tiles + h / 2 * TW;
        T* o = out + h * p.Wout;
        for (std::int64_t tw = 0; tw < p.Wout / 2; ++tw) {
          o[2 * tw] = even[tw] + b;
          o[2 * tw + 1] = odd[tw] + b;
        }
        if (p.Wout % 2 == 1) o[p.Wout - 1] = even[TW - 1] + b;
      }
    }
  }
}

// z (16, Cout, width): Z_e[k, t] = (A dY A^T)_e for the 2x2 block dY of output gradients of every tile t of samples
// [n0, n0 + nb) (zero past odd output sizes): the filter gradient's counterpart of the output transform. Per output
// channel, dY's elements are gathered into 4 rows of `width`; then A runs over them.
template <class T>
void transform_output_gradients(const T* dy, const Problem& p, std::int64_t n0, std::int64_t nb, T* z) {
  const std::int64_t tiles = p.tiles(), width = nb * tiles, e_stride = p.Cout * width, TW = p.tiles_w();
#pragma omp parallel for schedule(static) if (width * p.Cout * kElements > kParallelGrain)
  for (std::int64_t k = 0; k < p.Cout; ++k) {
    T* rows = row_buffer<T>(12 * width);  // dY: 2 x 2 rows, then A dY: 4 x 2
    const auto yy = [&](int r, int s) { return rows + (2 * r + s) * width; };
    const auto row = [&](int r, int s) { return rows + (4 + 2 * r + s) * width; };
    std::fill(rows, rows + 4 * width, T(0));
    for (std::int64_t n = 0; n < nb; ++n) {
      const T* in = dy + ((n0 + n) * p.Cout + k) * p.Hout * p.Wout;
      for (std::int64_t h = 0; h < p.Hout; ++h) {
        const T* i = in + h * p.Wout;
        T *even = yy(h % 2, 0) + n * tiles + h / 2 * TW, *odd = yy(h % 2, 1) + n * tiles + h / 2 * TW;
        for (std::int64_t tw = 0; tw < p.Wout / 2; ++tw) {
          even[tw] = i[2 * tw];
          odd[tw] = i[2 * tw + 1];
        }
        if (p.Wout % 2 == 1) even[TW - 1] = i[p.Wout - 1];
      }
    }
    for (int s = 0; s < 2; ++s) times_a(yy(0, s), yy(1, s), row(0, s), row(1, s), row(2, s), row(3, s), width);
    for (int r = 0; r < 4; ++r) {
      T* o = z + 4 * r * e_stride + k * width;
      times_a(row(r, 0), row(r, 1), o, o + e_stride, o + 2 * e_stride, o + 3 * e_stride, width);
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
#pragma omp parallel for schedule(static) if (threads == 1)
      for (int e = 0; e < kElements; ++e) {
        // One GEMM per element; shared out between the threads unless they already took samples of their own.
        MatrixMap<T>(m + e * p.Cout * width, p.Cout, width).noalias() =
            ConstMatrixMap<T>(u + e * p.Cout * p.Cin, p.Cout, p.Cin) *
            ConstMatrixMap<T>(v + e * p.Cin * width, p.Cin, width);
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
        MatrixMap<T>(du + e * g.K * g.C, g.K, g.C).noalias() +=
            ConstMatrixMap<T>(z + e * g.K * width, g.K, width) *
            ConstMatrixMap<T>(v + e * g.C * width, g.C, width).transpose();
      }
    });
  });
  // Per output channel k, along the input channels c (so that every loop vectorises): dU's 16 rows summed over the
  // threads, G^T dU G into 9 rows of taps, then written out filter by filter.
  const std::int64_t C = g.C, e_stride = g.K * g.C;
#pragma omp parallel for schedule(static) if (g.K * g.C * kElements > kParallelGrain)
  for (std::int64_t k = 0; k < g.K; ++k) {
    T* u = row_buffer<T>(37 * C);  // dU: 4 x 4 rows, G^T dU: 3 x 4, G^T dU G: 3 x 3
    const auto du = [&](int r, int s) { return u + (4 * r + s) * C; };
    const auto gu = [&](int r, int s) { return u + (16 + 4 * r + s) * C; };
    const auto tap = [&](int r, int s) { return u + (28 + 3 * r + s) * C; };
    for (int e = 0; e < kElements; ++e) {
      T* row = du(e / 4, e % 4);
      std::copy_n(sums + e * e_stride + k * C, C, row);
      for (int t = 1; t < ran; ++t) {
        const T* partial = sums + t * size + e * e_stride + k * C;
        for (std::int64_t c = 0; c < C; ++c) row[c] += partial[c];
      }
    }
    for (int s = 0; s < 4; ++s) times_gt(du(0, s), du(1, s), du(2, s), du(3, s), gu(0, s), gu(1, s), gu(2, s), C);
    for (int r = 0; r < 3; ++r) times_gt(gu(r, 0), gu(r, 1), gu(r, 2), gu(r, 3), tap(r, 0), tap(r, 1), tap(r, 2), C);
    for (std::int64_t c = 0; c < C; ++c)
      for (int rs = 0; rs < 9; ++rs) dw[(k * C + c) * 9 + rs] = tap(0, rs)[c];  // the 9 tap rows are consecutive
  }
}

template void winograd_forward<float>(const float*, const float*, const float*, float*, const Geometry&);
template void winograd_forward<double>(const double*, const double*, const double*, double*, const Geometry&);
template void winograd_backward_data<float>(const float*, const float*, float*, const Geometry&);
template void winograd_backward_data<double>(const double*, const double*, double*, const Geometry&);
template void winograd_backward_filter<float>(const float*, const float*, float*, const Geometry&);
template void winograd_backward_filter<double>(const double*, const double*, double*, const Geometry&);

}  // namespace edat::nn::cpu_impl
