// The geometry of one CPU convolution, shared by the im2col + GEMM kernels (conv2d_cpu.cpp) and the direct
// depthwise kernels (depthwise_conv2d_cpu.cpp): x (N, C, H, W), weight (K, C / G, R, S), y (N, K, P, Q).
#pragma once

#include <algorithm>
#include <cstdint>

#include "layers/functional.h"
#include "tensor/tensor.h"

namespace edat::nn::cpu_impl {

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
  double macs() const { return static_cast<double>(N) * static_cast<double>(K * crs() * pq()); }
  // The input plane is the column matrix already: 1x1 kernel, stride 1, no padding.
  bool pointwise() const { return R == 1 && S == 1 && sh == 1 && sw == 1 && ph == 0 && pw == 0; }
  // One input channel per group (MobileNetV2's 3x3 layers; K / G output channels each): depthwise_conv2d_cpu.h.
  bool depthwise() const { return Cg == 1 && G > 1; }

  // Output columns q whose input column q sw + offset lies inside [0, W): [first, last).
  void valid_q(std::int64_t offset, std::int64_t& first, std::int64_t& last) const {
    valid_outputs(offset, sw, W, Q, first, last);
  }

  // Outputs o in [0, out) whose input position o stride + offset lies inside [0, in): [first, last). Also the
  // pooling kernels' (layers/cpu/pooling_cpu.cpp).
  static void valid_outputs(std::int64_t offset, std::int64_t stride, std::int64_t in, std::int64_t out,
                            std::int64_t& first, std::int64_t& last) {
    first = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
    last = in - offset <= 0 ? 0 : std::min(out, (in - offset + stride - 1) / stride);
    first = std::min(first, last);
  }
};

}  // namespace edat::nn::cpu_impl
