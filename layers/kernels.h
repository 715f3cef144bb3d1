// The kernel interface of the layers, implemented by the CPU (layers/cpu/) and CUDA (layers/cuda/, cuDNN) back ends.
// As in tensor/backend.h, the differentiable ops (layers/*.cpp) validate arguments and allocate outputs; kernels
// may assume contiguous tensors of one dtype (f32 or f64) on one device, outputs allocated with the right shapes.
#pragma once

#include <cstdint>

#include "layers/functional.h"
#include "tensor/tensor.h"

namespace edat::nn {

// The words that open edat's error when cuDNN has no engine for an f64 problem: its legacy API runs f64 through fewer
// engines than f32 (docs/ARCHITECTURE.md). f64 tests on CUDA skip on them, saying so, rather than fail.
inline constexpr const char* kCudnnHasNoF64Engine = "cuDNN has no f64 engine for this";

class LayerKernels {
 public:
  virtual ~LayerKernels() = default;

  // ---- convolution: x (N, C, H, W), weight (K, C / groups, R, S), y (N, K, P, Q) ----
  // y = conv(x, weight) (+ bias per channel when bias is defined).
  virtual void conv2d_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& y,
                              const Conv2dOptions& options) = 0;
  // dx = the transposed convolution of dy with weight (overwrites dx).
  virtual void conv2d_backward_data(const Tensor& dy, const Tensor& weight, Tensor& dx,
                                    const Conv2dOptions& options) = 0;
  // dweight = the correlation of x with dy (overwrites dweight).
  virtual void conv2d_backward_filter(const Tensor& dy, const Tensor& x, Tensor& dweight,
                                      const Conv2dOptions& options) = 0;

  // ---- batch norm in training mode, x (N, C, H, W); weight, bias, running stats, saved stats (C) ----
  // y = (x - mean) * invstd * weight + bias with batch statistics; writes save_mean and save_invstd
  // (1 / sqrt(biased var + eps)) for the backward, and updates running_mean / running_var in place (see
  // functional.h). weight and bias are always defined here (the op passes ones / zeros when not affine).
  virtual void batch_norm_forward_train(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& y,
                                        Tensor& running_mean, Tensor& running_var, Tensor& save_mean,
                                        Tensor& save_invstd, double momentum, double eps) = 0;
  // dx, dweight, dbias: the batch-norm backward, stated and derived once in layers/reference/batch_norm_reference.cpp.
  // eps is the forward's: the CPU kernel reads invstd alone, but cuDNN asks for the same eps in both passes.
  virtual void batch_norm_backward_train(const Tensor& dy, const Tensor& x, const Tensor& weight,
                                         const Tensor& save_mean, const Tensor& save_invstd, Tensor& dx,
                                         Tensor& dweight, Tensor& dbias, double eps) = 0;

  // ---- max pooling: indices (i64, y's shape) hold the flat h * W + w input position of each maximum; the forward
  // leaves them out when `indices` is undefined (no backward will run) ----
  virtual void max_pool2d_forward(const Tensor& x, Tensor& y, Tensor& indices, const Pool2dOptions& options) = 0;
  // dx (pre-zeroed by the caller) += dy scattered to indices.
  virtual void max_pool2d_backward(const Tensor& dy, const Tensor& indices, Tensor& dx,
                                   const Pool2dOptions& options) = 0;

  // ---- adaptive average pooling, x (N, C, H, W) -> y (N, C, OH, OW) ----
  virtual void adaptive_avg_pool2d_forward(const Tensor& x, Tensor& y) = 0;
  virtual void adaptive_avg_pool2d_backward(const Tensor& dy, Tensor& dx) = 0;  // overwrites dx

  // ---- dropout: mask[i] = (uniform_at(seed, first, i) >= p) ? 1 / (1 - p) : 0, random.h's stream ----
  virtual void dropout_mask(Tensor& mask, double p, std::uint64_t seed, std::uint64_t first) = 0;
};

// The kernels for `device`; throws edat::Error like tensor's backend() when CUDA is not built or not present.
LayerKernels& layer_kernels(Device device);

// Makes `kernels` the CPU's layer kernels from now on, as EDAT_KERNELS does at start-up (the CUDA tests put the
// reference kernels there, their oracle); returns the ones chosen before, to put back.
LayerKernels& use_cpu_layer_kernels(LayerKernels& kernels);

}  // namespace edat::nn
