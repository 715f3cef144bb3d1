// Direct CPU kernels for depthwise convolutions (Geometry::depthwise(): one input channel per group, as in
// MobileNetV2's 3x3 layers). im2col + GEMM would run them as G tiny GEMMs, (K/G x R S) @ (R S x P Q) with R S = 9
// rows, after copying the input nine times: memory traffic, not arithmetic, and at a small fraction of what the
// cores can do. Here every output plane is a sum of R S shifted, scaled input rows, a loop the compiler vectorises
// along q. Same results as the im2col + GEMM path up to the order of the additions (the tests compare both with an
// f64 reference); every plane or filter is computed by one thread, in a fixed order, so results are deterministic.
#pragma once

#include "layers/cpu/conv2d_geometry.h"

namespace edat::nn::cpu_impl {

// y (N, K, P, Q) = the depthwise convolution of x with w (K, 1, R, S), plus bias[k] when bias is not null.
template <class T>
void depthwise_forward(const T* x, const T* w, const T* bias, T* y, const Geometry& g);
// dx (N, C, H, W), overwritten.
template <class T>
void depthwise_backward_data(const T* dy, const T* w, T* dx, const Geometry& g);
// dw (K, 1, R, S), overwritten.
template <class T>
void depthwise_backward_filter(const T* dy, const T* x, T* dw, const Geometry& g);

}  // namespace edat::nn::cpu_impl
