// Convolution by its definition (cross-correlation, as in PyTorch), with groups: output channel k of group
// g = k / Kg sees input channels g Cg .. g Cg + Cg - 1. For output position (p, q) and kernel tap (r, s) the input
// row and column are
//   h = p sh - ph + r dh,   w = q sw - pw + s dw     (a tap outside the image reads the zero padding)
// and
//   y[n, k, p, q]        = bias[k] + sum over (c, r, s) of weight[k, c, r, s] x[n, g Cg + c, h, w]
//   dx[n, g Cg + c, h, w] += weight[k, c, r, s] dy[n, k, p, q]     for every (k, p, q, r, s) that read it
//   dweight[k, c, r, s]   = sum over (n, p, q) of dy[n, k, p, q] x[n, g Cg + c, h, w]
// docs/learn/02-convolution.md shows the same three as im2col + GEMM.
#include <array>
#include <vector>

#include "layers/reference/reference_layer_kernels.h"
#include "tensor/cpu/cpu_backend.h"

namespace edat::nn::reference {

using edat::cpu_impl::dispatch_floating;

namespace {

struct ConvShape {
  std::int64_t N, C, H, W, K, R, S, P, Q, Cg, Kg;
  ConvShape(const Tensor& x, const Tensor& weight, const Tensor& y, const Conv2dOptions& o)
      : N(x.size(0)),
        C(x.size(1)),
        H(x.size(2)),
        W(x.size(3)),
        K(weight.size(0)),
        R(weight.size(2)),
        S(weight.size(3)),
        P(y.size(2)),
        Q(y.size(3)),
        Cg(C / o.groups),
        Kg(K / o.groups) {}
};

// Calls visit(yi, wi, xi) for every (output position, kernel tap) pair whose tap lies inside the image, with the flat
// indices of the output element y[n, k, p, q], the weight[k, c, r, s] and the input element the tap reads.
template <class Visit>
void for_each_tap(const ConvShape& g, const Conv2dOptions& o, Visit&& visit) {
  for (std::int64_t n = 0; n < g.N; ++n)
    for (std::int64_t k = 0; k < g.K; ++k)
      for (std::int64_t p = 0; p < g.P; ++p)
        for (std::int64_t q = 0; q < g.Q; ++q)
          for (std::int64_t c = 0; c < g.Cg; ++c)
            for (std::int64_t r = 0; r < g.R; ++r)
              for (std::int64_t s = 0; s < g.S; ++s) {
                const std::int64_t h = p * o.stride_h - o.pad_h + r * o.dilation_h;
                const std::int64_t w = q * o.stride_w - o.pad_w + s * o.dilation_w;
                if (h < 0 || h >= g.H || w < 0 || w >= g.W) continue;
                const std::int64_t channel = (k / g.Kg) * g.Cg + c;
                visit(((n * g.K + k) * g.P + p) * g.Q + q, ((k * g.Cg + c) * g.R + r) * g.S + s,
                      ((n * g.C + channel) * g.H + h) * g.W + w);
              }
}

// The three passes are one sum over the (output, tap) pairs, each of a product of two tensors' elements into the
// third; with (yi, wi, xi) the pair's indices:
//   forward          y[yi]       += weight[wi] x[xi]
//   backward data    dx[xi]      += weight[wi] dy[yi]
//   backward filter  dweight[wi] += dy[yi] x[xi]
// `pick(yi, wi, xi)` returns {out index, a index, b index}; out is overwritten with the sums (in double).
template <class Pick>
void sum_over_taps(const ConvShape& g, const Conv2dOptions& o, const Tensor& a, const Tensor& b, Tensor& out,
                   Pick&& pick) {
  dispatch_floating(out.dtype(), "conv2d (reference)", [&](auto tag) {
    using T = decltype(tag);
    const T *pa = a.data<T>(), *pb = b.data<T>();
    std::vector<double> sums(static_cast<std::size_t>(out.numel()), 0.0);
    for_each_tap(g, o, [&](std::int64_t yi, std::int64_t wi, std::int64_t xi) {
      const auto [oi, ai, bi] = pick(yi, wi, xi);
      sums[oi] += static_cast<double>(pa[ai]) * pb[bi];
    });
    T* po = out.data<T>();
    for (std::size_t i = 0; i < sums.size(); ++i) po[i] = static_cast<T>(sums[i]);
  });
}

using Indices = std::array<std::int64_t, 3>;

}  // namespace

void ReferenceLayerKernels::conv2d_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& y,
                                           const Conv2dOptions& o) {
  const ConvShape g(x, weight, y, o);
  sum_over_taps(g, o, weight, x, y, [](auto yi, auto wi, auto xi) { return Indices{yi, wi, xi}; });
  if (!bias.defined()) return;
  dispatch_floating(y.dtype(), "conv2d bias (reference)", [&](auto tag) {  // y[n, k, p, q] += bias[k]
    using T = decltype(tag);
    for (std::int64_t i = 0; i < y.numel(); ++i) y.data<T>()[i] += bias.data<T>()[i / (g.P * g.Q) % g.K];
  });
}

void ReferenceLayerKernels::conv2d_backward_data(const Tensor& dy, const Tensor& weight, Tensor& dx,
                                                 const Conv2dOptions& o) {
  sum_over_taps(ConvShape(dx, weight, dy, o), o, weight, dy, dx, [](auto yi, auto wi, auto xi) {
    return Indices{xi, wi, yi};
  });
}

void ReferenceLayerKernels::conv2d_backward_filter(const Tensor& dy, const Tensor& x, Tensor& dweight,
                                                   const Conv2dOptions& o) {
  sum_over_taps(ConvShape(x, dweight, dy, o), o, dy, x, dweight, [](auto yi, auto wi, auto xi) {
    return Indices{wi, yi, xi};
  });
}

}  // namespace edat::nn::reference
