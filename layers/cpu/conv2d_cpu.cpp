// CPU convolution: im2col + Eigen GEMM for the forward and the filter gradient, GEMM + col2im for the data gradient.
//
// Per group g (weights W_g: (Kg, Cg R S)) and a chunk of nb samples, the column matrix holds one row per
// (c, r, s) and one column per (n, p, q):  col[(c, r, s), (n, p, q)] = x[n, g Cg + c, p sh - ph + r dh, q sw - pw + s
// dw] (zero in the padding). Then
//   forward:          y_g  (Kg, nb P Q)   = W_g @ col
//   backward data:    dcol (Cg R S, nb P Q) = W_g^T @ dy_g, then col2im sums dcol back onto dx
//   backward filter:  dW_g (Kg, Cg R S)  += dy_g @ col^T   (summed over the chunks)
// Several samples share one GEMM so that it stays wide when P Q is small (ResNet's last stage at 112 px input is 4x4:
// per-sample GEMMs 16 columns wide run at a fraction of the peak), while the chunk keeps the column buffer bounded.
// A chunk of one sample reads and writes NCHW directly; a wider chunk stages its (K, nb P Q) result and scatters it.
// A 1x1, stride-1, unpadded convolution of one sample needs no im2col: the input plane is already the matrix.
// Eigen's GEMM is OpenMP-parallel itself, so it runs outside any parallel region; im2col, col2im and the
// gathers run in parallel over rows or planes.
#include <Eigen/Core>
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "layers/cpu/cpu_layer_kernels.h"
#include "tensor/cpu/cpu_backend.h"

namespace edat::nn::cpu_impl {

using edat::cpu_impl::dispatch_floating;
using edat::cpu_impl::kParallelGrain;

namespace {

template <class T>
using RowMajor = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using ConstMatrixMap = Eigen::Map<const RowMajor<T>>;

// The column buffer of one chunk stays under this size (unless one sample alone needs more).
std::size_t column_budget_bytes = std::size_t{24} << 20;

struct Geometry {
  std::int64_t N, C, H, W;  // input
  std::int64_t K, R, S;     // weight (K, C / G, R, S)
  std::int64_t P, Q;        // output
  std::int64_t G, Cg, Kg;   // groups, input and output channels per group
  std::int64_t sh, sw, ph, pw, dh, dw;

  Geometry(const Tensor& x, const Tensor& weight, const Tensor& y, const Conv2dOptions& o)
      : N(x.size(0)),
        C(x.size(1)),
        H(x.size(2)),
        W(x.size(3)),
        K(weight.size(0)),
        R(weight.size(2)),
        S(weight.size(3)),
        P(y.size(2)),
        Q(y.size(3)),
        G(o.groups),
        Cg(C / o.groups),
        Kg(K / o.groups),
        sh(o.stride_h),
        sw(o.stride_w),
        ph(o.pad_h),
        pw(o.pad_w),
        dh(o.dilation_h),
        dw(o.dilation_w) {}

  std::int64_t crs() const { return Cg * R * S; }  // rows of the column matrix
  std::int64_t pq() const { return P * Q; }
  std::int64_t hw() const { return H * W; }
  // The input plane is the column matrix already: 1x1 kernel, stride 1, no padding.
  bool pointwise() const { return R == 1 && S == 1 && sh == 1 && sw == 1 && ph == 0 && pw == 0; }

  // Output columns q whose input column q sw + offset lies inside [0, W): [first, last).
  void valid_q(std::int64_t offset, std::int64_t& first, std::int64_t& last) const {
    first = offset >= 0 ? 0 : (-offset + sw - 1) / sw;
    last = W - offset <= 0 ? 0 : std::min(Q, (W - offset + sw - 1) / sw);
    first = std::min(first, last);
  }
};

// Samples per chunk: as many as the column budget allows, spread evenly over the chunks.
std::int64_t chunk_size(const Geometry& g, std::size_t element_size) {
  const auto per_sample = static_cast<std::size_t>(std::max<std::int64_t>(g.crs() * g.pq(), 1)) * element_size;
  const std::int64_t fit =
      std::clamp<std::int64_t>(static_cast<std::int64_t>(column_budget_bytes / per_sample), 1, g.N);
  const std::int64_t chunks = (g.N + fit - 1) / fit;
  return (g.N + chunks - 1) / chunks;
}

// A growing, 64-byte aligned scratch buffer per thread and slot, kept between calls so that the training loop
// neither allocates nor page-faults it again.
template <class T>
T* scratch(int slot, std::int64_t count) {
  struct Buffer {
    std::unique_ptr<void, decltype(&std::free)> data{nullptr, &std::free};
    std::size_t bytes = 0;
  };
  thread_local Buffer buffers[2];
  Buffer& b = buffers[slot];
  const std::size_t bytes = (static_cast<std::size_t>(count) * sizeof(T) + 63) / 64 * 64;
  if (bytes > b.bytes) {
    b.data.reset();
    b.data.reset(std::aligned_alloc(64, bytes));
    EDAT_CHECK(b.data, "conv2d: cannot allocate a " << bytes << "-byte column buffer");
    b.bytes = bytes;
  }
  return static_cast<T*>(b.data.get());
}
enum Slot { kColumns = 0, kStaging = 1 };

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

template <class T>
void add_bias(T* y, const T* bias, std::int64_t K, std::int64_t PQ) {
#pragma omp parallel for schedule(static) if (K * PQ > kParallelGrain)
  for (std::int64_t k = 0; k < K; ++k)
    for (std::int64_t i = 0; i < PQ; ++i) y[k * PQ + i] += bias[k];
}

template <class T>
void forward(const T* x, const T* w, const T* bias, T* y, const Geometry& g) {
  if (g.N == 0) return;
  const std::int64_t nb_max = chunk_size(g, sizeof(T));
  for (std::int64_t n0 = 0; n0 < g.N; n0 += nb_max) {
    const std::int64_t nb = std::min(nb_max, g.N - n0), width = nb * g.pq();
    T* staged = nb > 1 ? scratch<T>(kStaging, g.K * width) : nullptr;
    for (std::int64_t grp = 0; grp < g.G; ++grp) {
      const T* col;
      if (g.pointwise() && nb == 1) {
        col = x + (n0 * g.C + grp * g.Cg) * g.hw();
      } else {
        T* buffer = scratch<T>(kColumns, g.crs() * width);
        im2col(x, buffer, g, n0, nb, grp);
        col = buffer;
      }
      ConstMatrixMap<T> weight(w + grp * g.Kg * g.crs(), g.Kg, g.crs());
      ConstMatrixMap<T> columns(col, g.crs(), width);
      T* out = nb > 1 ? staged + grp * g.Kg * width : y + (n0 * g.K + grp * g.Kg) * g.pq();
      Eigen::Map<RowMajor<T>>(out, g.Kg, width).noalias() = weight * columns;
    }
    if (nb > 1) {
      scatter_chunk(staged, bias, y, g.K, g.pq(), n0, nb);
    } else if (bias) {
      add_bias(y + n0 * g.K * g.pq(), bias, g.K, g.pq());
    }
  }
}

template <class T>
void backward_data(const T* dy, const T* w, T* dx, const Geometry& g) {
  if (g.N == 0) return;
  const std::int64_t nb_max = chunk_size(g, sizeof(T));
  for (std::int64_t n0 = 0; n0 < g.N; n0 += nb_max) {
    const std::int64_t nb = std::min(nb_max, g.N - n0), width = nb * g.pq();
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
        Eigen::Map<RowMajor<T>>(dx + (n0 * g.C + grp * g.Cg) * g.hw(), g.Cg, g.hw()).noalias() =
            weight.transpose() * grad_out;
        continue;
      }
      T* dcol = scratch<T>(kColumns, g.crs() * width);
      Eigen::Map<RowMajor<T>>(dcol, g.crs(), width).noalias() = weight.transpose() * grad_out;
      col2im(dcol, dx, g, n0, nb, grp);
    }
  }
}

template <class T>
void backward_filter(const T* dy, const T* x, T* dw, const Geometry& g) {
  if (g.N == 0) return std::fill(dw, dw + g.K * g.crs(), T(0));
  const std::int64_t nb_max = chunk_size(g, sizeof(T));
  for (std::int64_t n0 = 0; n0 < g.N; n0 += nb_max) {
    const std::int64_t nb = std::min(nb_max, g.N - n0), width = nb * g.pq();
    const T* dy_chunk = dy + n0 * g.K * g.pq();
    if (nb > 1) {
      T* staged = scratch<T>(kStaging, g.K * width);
      gather_chunk(dy, staged, g.K, g.pq(), n0, nb);
      dy_chunk = staged;
    }
    for (std::int64_t grp = 0; grp < g.G; ++grp) {
      const T* col;
      if (g.pointwise() && nb == 1) {
        col = x + (n0 * g.C + grp * g.Cg) * g.hw();
      } else {
        T* buffer = scratch<T>(kColumns, g.crs() * width);
        im2col(x, buffer, g, n0, nb, grp);
        col = buffer;
      }
      ConstMatrixMap<T> grad_out(dy_chunk + grp * g.Kg * width, g.Kg, width);
      ConstMatrixMap<T> columns(col, g.crs(), width);
      Eigen::Map<RowMajor<T>> grad_weight(dw + grp * g.Kg * g.crs(), g.Kg, g.crs());
      if (n0 == 0) {
        grad_weight.noalias() = grad_out * columns.transpose();
      } else {
        grad_weight.noalias() += grad_out * columns.transpose();
      }
    }
  }
}

}  // namespace

void set_conv2d_column_budget(std::size_t bytes) { column_budget_bytes = bytes; }
std::size_t conv2d_column_budget() { return column_budget_bytes; }

void CpuLayerKernels::conv2d_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& y,
                                     const Conv2dOptions& options) {
  const Geometry g(x, weight, y, options);
  dispatch_floating(x.dtype(), "conv2d", [&](auto tag) {
    using T = decltype(tag);
    forward(x.data<T>(), weight.data<T>(), bias.defined() ? bias.data<T>() : nullptr, y.data<T>(), g);
  });
}

void CpuLayerKernels::conv2d_backward_data(const Tensor& dy, const Tensor& weight, Tensor& dx,
                                           const Conv2dOptions& options) {
  const Geometry g(dx, weight, dy, options);
  dispatch_floating(dy.dtype(), "conv2d backward", [&](auto tag) {
    using T = decltype(tag);
    backward_data(dy.data<T>(), weight.data<T>(), dx.data<T>(), g);
  });
}

void CpuLayerKernels::conv2d_backward_filter(const Tensor& dy, const Tensor& x, Tensor& dweight,
                                             const Conv2dOptions& options) {
  const Geometry g(x, dweight, dy, options);
  dispatch_floating(dy.dtype(), "conv2d backward", [&](auto tag) {
    using T = decltype(tag);
    backward_filter(dy.data<T>(), x.data<T>(), dweight.data<T>(), g);
  });
}

}  // namespace edat::nn::cpu_impl
