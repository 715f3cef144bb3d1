// 3x3 stride-1 convolutions by Winograd's minimal filtering F(2x2, 3x3): the forward and both gradients of ResNet's
// 3x3 layers with 2.25x fewer multiplications than im2col + GEMM (winograd_conv2d_cpu.cpp explains how).
#pragma once

#include "layers/cpu/conv2d_geometry.h"

namespace edat::nn::cpu_impl {

// Whether the forward and the gradients of `g` run here rather than on im2col: Winograd on (set_conv2d_winograd),
// a 3x3 kernel at stride 1 without dilation, one group, padding at most 2, at least 16 channels in and out (fewer
// are bound by memory, not multiplications) and at least 64 output tiles of 2x2 in the batch (the weights' transform
// must pay for itself: measured in bench_cpu_kernels' BM_resnet18_conv, 512 channels at 64 tiles gain 25% on im2col,
// at 32 tiles they lose).
bool winograd_applies(const Geometry& g);

// y = conv(x, w) + bias (bias may be null); dx = the data gradient of dy (overwritten). T is float or double.
template <class T>
void winograd_forward(const T* x, const T* w, const T* bias, T* y, const Geometry& g);
template <class T>
void winograd_backward_data(const T* dy, const T* w, T* dx, const Geometry& g);
// dw = the filter gradient summed over the batch (overwritten).
template <class T>
void winograd_backward_filter(const T* dy, const T* x, T* dw, const Geometry& g);

}  // namespace edat::nn::cpu_impl
