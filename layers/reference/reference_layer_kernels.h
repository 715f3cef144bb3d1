// The textbook layer kernels: every LayerKernels call written as the definition reads, for reading and as the oracle
// the fast kernels are tested against (tests/test_layers.cpp, tests/test_layers_cuda.cpp). Single-threaded, CPU only,
// every sum accumulated in double. `EDAT_KERNELS=reference` makes layer_kernels(cpu) return these (layers/kernels.cpp),
// so a whole training run can be replayed on them. docs/learn/ explains the maths behind each.
//
//   convolution   direct loops over (n, k, p, q) and the receptive field (c, r, s); the backwards as scatters
//   batch norm    the forward and the backward through its explicit terms dxhat, dvar, dmean (docs/learn/03)
//   pooling       max over each window (first maximum wins), adaptive average over PyTorch's windows
//   dropout       the mask is a definition, not an algorithm: the CPU kernel's (random.h's stream)
#pragma once

#include "layers/kernels.h"

namespace edat::nn::reference {

class ReferenceLayerKernels final : public LayerKernels {
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

LayerKernels& reference_layer_kernels();

}  // namespace edat::nn::reference
