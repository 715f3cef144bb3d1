// The fast CPU layer kernels, each file giving the same result as its textbook counterpart in layers/reference/:
// convolution as im2col/col2im + Eigen GEMM (conv2d_cpu.cpp) or Winograd (winograd_conv2d_cpu.cpp), batch norm (batch_norm_cpu.cpp), max and adaptive
// average pooling (pooling_cpu.cpp) and the dropout mask (cpu_layer_kernels.cpp). Loops are parallelised with OpenMP
// over channels or planes. Convolution calls Eigen's GEMM inside its own parallel regions too (a thread per share of
// samples, or a block of the output per thread), where Eigen runs single-threaded.
#pragma once

#include <cstddef>

#include "layers/kernels.h"

namespace edat::nn::cpu_impl {

class CpuLayerKernels final : public LayerKernels {
 public:
  void conv2d_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& y,
                      const Conv2dOptions& options) override;
  void conv2d_backward_data(const Tensor& dy, const Tensor& weight, Tensor& dx, const Conv2dOptions& options) override;
  void conv2d_backward_filter(const Tensor& dy, const Tensor& x, Tensor& dweight,
                              const Conv2dOptions& options) override;

  void batch_norm_forward_train(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& y,
                                Tensor& running_mean, Tensor& running_var, Tensor& save_mean, Tensor& save_invstd,
                                double momentum, double eps) override;
  void batch_norm_backward_train(const Tensor& dy, const Tensor& x, const Tensor& weight, const Tensor& save_mean,
                                 const Tensor& save_invstd, Tensor& dx, Tensor& dweight, Tensor& dbias,
                                 double eps) override;

  void max_pool2d_forward(const Tensor& x, Tensor& y, Tensor& indices, const Pool2dOptions& options) override;
  void max_pool2d_backward(const Tensor& dy, const Tensor& indices, Tensor& dx, const Pool2dOptions& options) override;
  void adaptive_avg_pool2d_forward(const Tensor& x, Tensor& y) override;
  void adaptive_avg_pool2d_backward(const Tensor& dy, Tensor& dx) override;

  void dropout_mask(Tensor& mask, double p, std::uint64_t seed, std::uint64_t first) override;
};

LayerKernels& cpu_layer_kernels();

// Convolution processes the batch in chunks of samples whose column matrix fits this many bytes (at least one
// sample per chunk); 16 MiB by default. Tests shrink it to exercise every chunking path on small inputs.
void set_conv2d_column_budget(std::size_t bytes);
std::size_t conv2d_column_budget();

// 3x3 stride-1 convolutions run their forward and data gradient as Winograd F(2x2, 3x3) (winograd_conv2d_cpu.h)
// unless this is switched off (tests compare both ways; EDAT_CONV_WINOGRAD=0 switches it off at start-up).
void set_conv2d_winograd(bool enabled);
bool conv2d_winograd();

}  // namespace edat::nn::cpu_impl
