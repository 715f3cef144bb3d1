// The differentiable neural-network ops behind the layers: convolution, batch norm, pooling, linear, dropout and
// losses. Each has PyTorch's semantics (torch.nn.functional) and runs on the CPU and CUDA; forward and backward of
// each live side by side in layers/<op>.cpp, the kernels in layers/cpu/ and layers/cuda/.
#pragma once

#include <cstdint>
#include <functional>

#include "tensor/random.h"
#include "tensor/tensor.h"

namespace edat::nn {

// 2-D convolution geometry (NCHW input, weight (C_out, C_in / groups, KH, KW)).
struct Conv2dOptions {
  std::int64_t stride_h = 1, stride_w = 1;
  std::int64_t pad_h = 0, pad_w = 0;
  std::int64_t dilation_h = 1, dilation_w = 1;
  std::int64_t groups = 1;
};

// One side of a convolution's output: (in + 2 pad - dilation (k - 1) - 1) / stride + 1, rounded down (<= 0 when
// the window does not fit).
std::int64_t conv_output_size(std::int64_t in, std::int64_t k, std::int64_t stride, std::int64_t pad,
                              std::int64_t dilation);

// y = conv(x, weight) + bias (bias may be undefined); each spatial side of y is conv_output_size().
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dOptions& options);

// Batch normalisation over (N, H, W) per channel of an NCHW tensor.
// Training: normalises with the batch mean and biased variance, and updates in place
//   running_mean = (1 - momentum) running_mean + momentum mean,
//   running_var  = (1 - momentum) running_var  + momentum var * n / (n - 1)   (unbiased), n = N H W.
// Evaluation: normalises with running_mean / running_var. weight and bias (C) may be undefined (no affine).
Tensor batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                  const Tensor& running_var, bool training, double momentum = 0.1, double eps = 1e-5);

// Synchronised batch norm (dist/, --sync-bn): while a sum is set, training-mode batch_norm takes its mean and
// variance over every process's batch, `sum_across_processes` summing a tensor over the processes differentiably (its
// backward sums the gradients the same way). Unset (the default): each process's own batch, as a single process.
using CrossProcessSum = std::function<Tensor(const Tensor&)>;
void set_batch_norm_sync(CrossProcessSum sum_across_processes);

struct Pool2dOptions {
  std::int64_t kernel_h = 2, kernel_w = 2;
  std::int64_t stride_h = 2, stride_w = 2;
  std::int64_t pad_h = 0, pad_w = 0;
  std::int64_t dilation_h = 1, dilation_w = 1;
  bool ceil_mode = false;
};
// Max over each window (padding counts as -infinity); the gradient goes to the first maximal element.
Tensor max_pool2d(const Tensor& x, const Pool2dOptions& options);
// PyTorch's rule: (in + 2 pad - dilation (k - 1) - 1) / stride + 1, rounded down, or up with ceil_mode; with
// ceil_mode the last window must still start inside the input or its left padding.
std::int64_t pool_output_size(std::int64_t in, std::int64_t k, std::int64_t stride, std::int64_t pad,
                              std::int64_t dilation, bool ceil_mode);
// PyTorch's adaptive average pooling: output cell (i, j) averages input rows [floor(i H / OH), ceil((i+1) H / OH))
// and the same for columns.
Tensor adaptive_avg_pool2d(const Tensor& x, std::int64_t out_h, std::int64_t out_w);

// y = x weight^T + bias for x (N, in), weight (out, in), bias (out) or undefined.
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias);

// Training: zeroes each element with probability p and scales the rest by 1 / (1 - p), with the mask drawn from
// `generator` (the same mask on CPU and CUDA for the same generator state). Evaluation: the identity.
Tensor dropout(const Tensor& x, double p, bool training, Generator& generator);

// Mean reductions, as torch.nn.L1Loss / MSELoss / SmoothL1Loss with reduction='mean'; shapes must match.
Tensor l1_loss(const Tensor& prediction, const Tensor& target);
Tensor mse_loss(const Tensor& prediction, const Tensor& target);
// Huber-like: per element 0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (d = p - t); beta 0 is the L1 loss.
Tensor smooth_l1_loss(const Tensor& prediction, const Tensor& target, double beta = 1.0);

}  // namespace edat::nn
