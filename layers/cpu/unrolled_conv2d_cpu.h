// Convolutions of planes smaller than the kernel (ResNet-18's last stage at 64 px: 2x2 planes under 3x3 kernels) as
// one dense layer: a matrix from every input pixel of every channel to every output pixel of every channel.
// im2col + GEMM multiplies each output by all R S taps, most of which land in the padding; here only the pairs of
// pixels a tap connects cost anything (unrolled_conv2d_cpu.cpp explains how).
#pragma once

#include "layers/cpu/conv2d_geometry.h"

namespace edat::nn::cpu_impl {

// Whether the passes of `g` run here: one group, a plane of fewer pixels than the kernel has taps (H W < R S: the
// dense layer then multiplies less than im2col + GEMM does), and an unrolled matrix at most twice the size of
// im2col's weight matrix per output pixel (P Q H W <= 2 R S).
bool unrolled_applies(const Geometry& g);

// y = conv(x, w) + bias (bias may be null).
template <class T>
void unrolled_forward(const T* x, const T* w, const T* bias, T* y, const Geometry& g);
// dx, overwritten.
template <class T>
void unrolled_backward_data(const T* dy, const T* w, T* dx, const Geometry& g);
// dw, overwritten: the filter gradient summed over the batch.
template <class T>
void unrolled_backward_filter(const T* dy, const T* x, T* dw, const Geometry& g);

}  // namespace edat::nn::cpu_impl
