// CUDA convolution through cuDNN: forward (+ bias with cudnnAddTensor), backward data and backward filter; groups
// and dilation are cuDNN's own. Algorithm choice, workspace and fallback live in cudnn_wrapper.cpp.
#include "layers/cuda/cuda_layer_kernels.h"
#include "layers/cuda/cudnn_wrapper.h"

namespace edat::nn::cuda_impl {

using edat::cuda_impl::current_stream;

namespace {

void zero(Tensor& t) { EDAT_CUDA_CHECK(cudaMemsetAsync(t.raw_data(), 0, t.nbytes(), current_stream())); }

}  // namespace

// y[n, k, p, q] = bias[k] + sum over (c, r, s) of weight[k, c, r, s] x[n, c, p sh - ph + r dh, q sw - pw + s dw]
void conv2d_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& y, const Conv2dOptions& o) {
  if (y.numel() == 0) return;
  const int device = x.device().index;
  if (x.numel() == 0) {  // no input channels: only the bias remains
    zero(y);
  } else {
    const ConvProblem problem(x.shape(), weight.shape(), y.shape(), o, x.dtype(), device);
    convolution_forward(problem, x.raw_data(), weight.raw_data(), y.raw_data());
  }
  if (bias.defined()) {  // y += bias broadcast over (N, P, Q)
    const TensorDescriptor bias_desc(y.dtype(), 1, y.size(1), 1, 1, "conv2d");
    const TensorDescriptor y_desc(y.dtype(), y.shape(), "conv2d");
    const ScalingFactor one(y.dtype(), 1.0);
    EDAT_CUDNN_CHECK(cudnnAddTensor(cudnn_handle(device), one.get(), bias_desc.get(), bias.raw_data(), one.get(),
                                    y_desc.get(), y.raw_data()));
  }
}

// dx = the transposed convolution of dy with weight
void conv2d_backward_data(const Tensor& dy, const Tensor& weight, Tensor& dx, const Conv2dOptions& o) {
  if (dx.numel() == 0) return;
  if (dy.numel() == 0) {
    zero(dx);
    return;
  }
  const ConvProblem problem(dx.shape(), weight.shape(), dy.shape(), o, dy.dtype(), dy.device().index);
  convolution_backward_data(problem, weight.raw_data(), dy.raw_data(), dx.raw_data());
}

// dweight[k, c, r, s] = sum over (n, p, q) of dy[n, k, p, q] x[n, c, p sh - ph + r dh, q sw - pw + s dw]
void conv2d_backward_filter(const Tensor& dy, const Tensor& x, Tensor& dweight, const Conv2dOptions& o) {
  if (dweight.numel() == 0) return;
  if (dy.numel() == 0 || x.numel() == 0) {
    zero(dweight);
    return;
  }
  const ConvProblem problem(x.shape(), dweight.shape(), dy.shape(), o, dy.dtype(), dy.device().index);
  convolution_backward_filter(problem, x.raw_data(), dy.raw_data(), dweight.raw_data());
}

}  // namespace edat::nn::cuda_impl
