// The CUDA layer kernels: convolution and batch norm through cuDNN (conv2d_cuda.cpp, batch_norm_cuda.cpp, with
// every cuDNN call behind cudnn_wrapper.h), and own kernels for pooling (pooling_cuda.cu) and the dropout mask
// (dropout_cuda.cu). CudaLayerKernels (cuda_layer_kernels.cpp) makes the tensors' device current and calls the
// launchers below, which queue their work on edat::cuda_impl::current_stream().
#pragma once

#include <cstdint>

#include "layers/kernels.h"

namespace edat::nn::cuda_impl {

LayerKernels& cuda_layer_kernels();

// conv2d_cuda.cpp
void conv2d_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& y, const Conv2dOptions& o);
void conv2d_backward_data(const Tensor& dy, const Tensor& weight, Tensor& dx, const Conv2dOptions& o);
void conv2d_backward_filter(const Tensor& dy, const Tensor& x, Tensor& dweight, const Conv2dOptions& o);

// batch_norm_cuda.cpp
void batch_norm_forward_train(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& y,
                              Tensor& running_mean, Tensor& running_var, Tensor& save_mean, Tensor& save_invstd,
                              double momentum, double eps);
void batch_norm_backward_train(const Tensor& dy, const Tensor& x, const Tensor& weight, const Tensor& save_mean,
                               const Tensor& save_invstd, Tensor& dx, Tensor& dweight, Tensor& dbias, double eps);

// pooling_cuda.cu
void max_pool2d_forward(const Tensor& x, Tensor& y, Tensor& indices, const Pool2dOptions& o);
void max_pool2d_backward(const Tensor& dy, const Tensor& indices, Tensor& dx, const Pool2dOptions& o);
void adaptive_avg_pool2d_forward(const Tensor& x, Tensor& y);
void adaptive_avg_pool2d_backward(const Tensor& dy, Tensor& dx);

// dropout_cuda.cu
void dropout_mask(Tensor& mask, double p, std::uint64_t seed, std::uint64_t first);

}  // namespace edat::nn::cuda_impl
