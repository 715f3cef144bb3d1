// The convolution geometries every convolution test runs, and their oracle: the CPU value tests against the
// reference kernels (test_layers.cpp, every case), the f64 gradient checks (test_layers_gradcheck.cpp, the cases small
// enough for central differences element by element) and the CUDA tests against the same reference
// (test_layers_cuda.cpp). One list, so a geometry added here is checked every way.
#pragma once

#include <vector>

#include "autograd/ops.h"
#include "layers/functional.h"
#include "layers/reference/reference_layer_kernels.h"
#include "tensor/factory.h"
#include "tensor/shape.h"

namespace edat::testing {

struct ConvCase {
  const char* name;
  Shape x, w;
  bool bias;
  nn::Conv2dOptions options;

  Shape y() const {
    return {x[0], w[0], nn::conv_output_size(x[2], w[2], options.stride_h, options.pad_h, options.dilation_h),
            nn::conv_output_size(x[3], w[3], options.stride_w, options.pad_w, options.dilation_w)};
  }
};

// Few enough elements in x and the weight for a numerical gradient check (two forwards per element, three budgets).
inline bool small_enough_to_gradcheck(const ConvCase& c) { return numel(c.x) + numel(c.w) <= 700; }

inline const std::vector<ConvCase>& conv_cases() {
  static const std::vector<ConvCase> cases = {
      {"3x3 padding 1", {2, 3, 6, 7}, {4, 3, 3, 3}, true, {.pad_h = 1, .pad_w = 1}},
      {"3x3 stride 1 padding 1, small", {2, 3, 5, 6}, {4, 3, 3, 3}, true, {.pad_h = 1, .pad_w = 1}},
      {"3x2 stride 2 no bias", {2, 3, 7, 6}, {4, 3, 3, 2}, false, {.stride_h = 2, .stride_w = 2}},
      {"3x2 stride 2x3 padding 2x1",
       {3, 4, 9, 8},
       {6, 4, 3, 2},
       false,
       {.stride_h = 2, .stride_w = 3, .pad_h = 2, .pad_w = 1}},
      {"dilation 2, groups 3",
       {2, 6, 8, 7},
       {6, 2, 3, 3},
       true,
       {.pad_h = 2, .pad_w = 2, .dilation_h = 2, .dilation_w = 2, .groups = 3}},
      {"stride 2x1, padding 2x1, dilation 2, groups 2",
       {1, 4, 7, 8},
       {6, 2, 3, 2},
       true,
       {.stride_h = 2, .stride_w = 1, .pad_h = 2, .pad_w = 1, .dilation_h = 2, .dilation_w = 2, .groups = 2}},
      {"depthwise 3x3", {2, 3, 5, 5}, {3, 1, 3, 3}, true, {.pad_h = 1, .pad_w = 1, .groups = 3}},
      {"depthwise stride 2",
       {3, 4, 5, 5},
       {4, 1, 3, 3},
       true,
       {.stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1, .groups = 4}},
      {"depthwise multiplier 2, stride 2",
       {2, 2, 6, 5},
       {4, 1, 3, 3},
       false,
       {.stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1, .groups = 2}},
      // Padding 2 x 0 at stride 2: the last input column is never read (and gets no gradient).
      {"depthwise stride 2, padding 2x0, an unread column",
       {2, 3, 8, 10},
       {3, 1, 3, 3},
       true,
       {.stride_h = 2, .stride_w = 2, .pad_h = 2, .pad_w = 0, .groups = 3}},
      {"1x1", {3, 5, 4, 6}, {7, 5, 1, 1}, true, {}},
      {"1x1 single sample", {1, 8, 5, 3}, {4, 8, 1, 1}, false, {}},
      {"1x1 stride 2 (downsample)", {4, 6, 7, 7}, {8, 6, 1, 1}, false, {.stride_h = 2, .stride_w = 2}},
      {"1x1 stride 2, small", {2, 3, 5, 4}, {4, 3, 1, 1}, false, {.stride_h = 2, .stride_w = 2}},
      {"1x1 groups 2", {2, 4, 3, 2}, {6, 2, 1, 1}, true, {.groups = 2}},
      {"2x3, padding 0x2, dilation 2x1, stride 1x2",
       {3, 2, 6, 5},
       {3, 2, 2, 3},
       true,
       {.stride_h = 1, .stride_w = 2, .pad_h = 0, .pad_w = 2, .dilation_h = 2, .dilation_w = 1}},
      {"7x7 stride 2 padding 3 (ResNet stem)",
       {2, 3, 11, 10},
       {8, 3, 7, 7},
       false,
       {.stride_h = 2, .stride_w = 2, .pad_h = 3, .pad_w = 3}},
      {"7x7 stem, small", {1, 2, 9, 8}, {2, 2, 7, 7}, false, {.stride_h = 2, .stride_w = 2, .pad_h = 3, .pad_w = 3}},
      {"kernel larger than the padded input's interior", {2, 1, 2, 3}, {2, 1, 3, 3}, true, {.pad_h = 2, .pad_w = 2}},
      {"ResNet's last stage at 112 px: 4x4", {5, 32, 4, 4}, {16, 32, 3, 3}, true, {.pad_h = 1, .pad_w = 1}},
      // Planes smaller than the kernel (one dense layer on the CPU, layers/cpu/unrolled_conv2d_cpu.h): ResNet-18's last
      // stage at 64 px, a 1x1 plane, and a 2x3 plane at stride 2 with dilation 2.
      {"2x2 planes under a 3x3 kernel", {4, 8, 2, 2}, {6, 8, 3, 3}, true, {.pad_h = 1, .pad_w = 1}},
      {"1x1 planes under a 3x3 kernel", {3, 5, 1, 1}, {4, 5, 3, 3}, false, {.pad_h = 1, .pad_w = 1}},
      {"2x3 planes, stride 2, padding 2, dilation 2",
       {2, 4, 2, 3},
       {5, 4, 3, 3},
       true,
       {.stride_h = 2, .stride_w = 2, .pad_h = 2, .pad_w = 2, .dilation_h = 2, .dilation_w = 2}},
      // Large enough for several threads: one sample (each GEMM split between threads), three samples (each thread
      // takes its own, unevenly).
      {"one sample, threads split the GEMM", {1, 32, 20, 20}, {64, 32, 3, 3}, true, {.pad_h = 1, .pad_w = 1}},
      {"three samples, a thread each", {3, 16, 24, 24}, {16, 16, 3, 3}, false, {.pad_h = 1, .pad_w = 1}},
      // Depthwise (one input channel per group: the CPU's direct kernels, layers/cpu/depthwise_conv2d_cpu.h):
      // MobileNetV2's 3x3 layers at stride 1 and 2, large enough for threads; a 5x3 kernel with dilation and
      // asymmetric padding; a 1x1 depthwise with a padding wider than the kernel's reach.
      {"depthwise, MobileNetV2 3x3", {4, 24, 28, 28}, {24, 1, 3, 3}, false, {.pad_h = 1, .pad_w = 1, .groups = 24}},
      {"depthwise, MobileNetV2 3x3 stride 2",
       {3, 32, 15, 15},
       {32, 1, 3, 3},
       true,
       {.stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1, .groups = 32}},
      {"depthwise multiplier 2, stride 2x1, padding 1x2",
       {2, 3, 9, 8},
       {6, 1, 3, 3},
       true,
       {.stride_h = 2, .stride_w = 1, .pad_h = 1, .pad_w = 2, .groups = 3}},
      {"depthwise 5x3, dilation 2x1, stride 1x2",
       {2, 4, 11, 9},
       {4, 1, 5, 3},
       false,
       {.stride_h = 1, .stride_w = 2, .pad_h = 3, .pad_w = 1, .dilation_h = 2, .dilation_w = 1, .groups = 4}},
      {"depthwise 1x1, padding 2", {2, 5, 4, 4}, {5, 1, 1, 1}, true, {.pad_h = 2, .pad_w = 2, .groups = 5}},
  };
  return cases;
}

// Layer-sized geometries, too large for a gradient check: the cases where the fast CPU kernels and cuDNN pick other
// algorithms (big GEMMs, Winograd or FFT on a GPU) than on the small cases above.
inline const std::vector<ConvCase>& large_conv_cases() {
  static const std::vector<ConvCase> cases = {
      {"ResNet layer1 3x3 64 -> 64", {8, 64, 28, 28}, {64, 64, 3, 3}, false, {.pad_h = 1, .pad_w = 1}},
      {"ResNet stem 7x7 stride 2",
       {2, 3, 32, 32},
       {16, 3, 7, 7},
       false,
       {.stride_h = 2, .stride_w = 2, .pad_h = 3, .pad_w = 3}},
      {"batch 16, 3x3 32 -> 32", {16, 32, 14, 14}, {32, 32, 3, 3}, true, {.pad_h = 1, .pad_w = 1}},
      {"ResNet-18's last stage at 64 px: 2x2, 32 samples",
       {32, 64, 2, 2},
       {96, 64, 3, 3},
       true,
       {.pad_h = 1, .pad_w = 1}},
      {"depthwise, 8 samples of 32 channels",
       {8, 32, 20, 20},
       {32, 1, 3, 3},
       true,
       {.pad_h = 1, .pad_w = 1, .groups = 32}},
  };
  return cases;
}

// What the oracle says for one case: y = conv2d(x, w, b) and the gradients of sum(y * dy), by the textbook kernels
// of layers/reference/ (direct loops, sums in double), on the CPU whatever the device of the arguments.
struct ConvReference {
  Tensor y, dx, dw, db;
};

inline ConvReference reference_conv(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& dy,
                                    const nn::Conv2dOptions& o) {
  nn::LayerKernels& oracle = nn::reference::reference_layer_kernels();
  const Tensor xc = x.detach().cpu(), wc = w.detach().cpu(), dyc = dy.detach().cpu();
  const Options like{.dtype = x.dtype()};
  ConvReference ref{empty(dyc.shape(), like), empty(xc.shape(), like), empty(wc.shape(), like), Tensor()};
  oracle.conv2d_forward(xc, wc, b.defined() ? b.detach().cpu() : Tensor(), ref.y, o);
  oracle.conv2d_backward_data(dyc, wc, ref.dx, o);
  oracle.conv2d_backward_filter(dyc, xc, ref.dw, o);
  if (b.defined()) ref.db = sum(dyc, {0, 2, 3});
  return ref;
}

}  // namespace edat::testing
