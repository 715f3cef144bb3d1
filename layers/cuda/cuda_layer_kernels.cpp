// The CUDA layer kernels' instance: each call makes the device of its tensors current, then runs the launcher.
#include "layers/cuda/cuda_layer_kernels.h"

#include "tensor/cuda/cuda_check.h"

namespace edat::nn::cuda_impl {

namespace {

using edat::cuda_impl::DeviceGuard;

class CudaLayerKernels final : public LayerKernels {
 public:
  void conv2d_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& y,
                      const Conv2dOptions& options) override {
    DeviceGuard guard(x.device().index);
    cuda_impl::conv2d_forward(x, weight, bias, y, options);
  }
  void conv2d_backward_data(const Tensor& dy, const Tensor& weight, Tensor& dx, const Conv2dOptions& options) override {
    DeviceGuard guard(dy.device().index);
    cuda_impl::conv2d_backward_data(dy, weight, dx, options);
  }
  void conv2d_backward_filter(const Tensor& dy, const Tensor& x, Tensor& dweight,
                              const Conv2dOptions& options) override {
    DeviceGuard guard(dy.device().index);
    cuda_impl::conv2d_backward_filter(dy, x, dweight, options);
  }

  void batch_norm_forward_train(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& y,
                                Tensor& running_mean, Tensor& running_var, Tensor& save_mean, Tensor& save_invstd,
                                double momentum, double eps) override {
    DeviceGuard guard(x.device().index);
    cuda_impl::batch_norm_forward_train(x, weight, bias, y, running_mean, running_var, save_mean, save_invstd, momentum,
                                        eps);
  }
  void batch_norm_backward_train(const Tensor& dy, const Tensor& x, const Tensor& weight, const Tensor& save_mean,
                                 const Tensor& save_invstd, Tensor& dx, Tensor& dweight, Tensor& dbias,
                                 double eps) override {
    DeviceGuard guard(x.device().index);
    cuda_impl::batch_norm_backward_train(dy, x, weight, save_mean, save_invstd, dx, dweight, dbias, eps);
  }

  void max_pool2d_forward(const Tensor& x, Tensor& y, Tensor& indices, const Pool2dOptions& options) override {
    DeviceGuard guard(x.device().index);
    cuda_impl::max_pool2d_forward(x, y, indices, options);
  }
  void max_pool2d_backward(const Tensor& dy, const Tensor& indices, Tensor& dx, const Pool2dOptions& options) override {
    DeviceGuard guard(dy.device().index);
    cuda_impl::max_pool2d_backward(dy, indices, dx, options);
  }
  void adaptive_avg_pool2d_forward(const Tensor& x, Tensor& y) override {
    DeviceGuard guard(x.device().index);
    cuda_impl::adaptive_avg_pool2d_forward(x, y);
  }
  void adaptive_avg_pool2d_backward(const Tensor& dy, Tensor& dx) override {
    DeviceGuard guard(dy.device().index);
    cuda_impl::adaptive_avg_pool2d_backward(dy, dx);
  }

  void dropout_mask(Tensor& mask, double p, std::uint64_t seed, std::uint64_t first) override {
    DeviceGuard guard(mask.device().index);
    cuda_impl::dropout_mask(mask, p, seed, first);
  }
};

}  // namespace

LayerKernels& cuda_layer_kernels() {
  static CudaLayerKernels kernels;
  return kernels;
}

}  // namespace edat::nn::cuda_impl
