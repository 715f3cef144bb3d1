// Batch normalisation in training mode, by its definition. Per channel, over its m = N H W values x_i:
//   mean = sum x_i / m,   var = sum (x_i - mean)^2 / m   (biased),   invstd = 1 / sqrt(var + eps)
//   xhat_i = (x_i - mean) invstd,   y_i = weight xhat_i + bias
//   running_mean = (1 - momentum) running_mean + momentum mean
//   running_var  = (1 - momentum) running_var  + momentum var m / (m - 1)   (unbiased)
//
// THE batch-norm backward (every other place in edat points here; docs/learn/03-batch-norm.md derives it). The chain
// rule through xhat, then through var and mean, which depend on every x_i:
//   dxhat_i = dy_i weight
//   dvar    = sum dxhat_i (x_i - mean) (-1/2) invstd^3
//   dmean   = -invstd sum dxhat_i  +  dvar (-2 / m) sum (x_i - mean)          (the second sum is 0)
//   dx_i    = dxhat_i invstd  +  dvar 2 (x_i - mean) / m  +  dmean / m
//   dweight = sum dy_i xhat_i,   dbias = sum dy_i
// Substituting collapses it to the form the fast kernels use (layers/cpu/batch_norm_cpu.cpp, cuDNN):
//   dx_i = weight invstd / m (m dy_i - dbias - xhat_i dweight)
#include <cmath>
#include <vector>

#include "layers/reference/reference_layer_kernels.h"
#include "tensor/cpu/cpu_backend.h"

namespace edat::nn::reference {

using edat::cpu_impl::dispatch_floating;

namespace {

// The flat indices of channel c's values in an (N, C, HW) tensor, in order.
std::vector<std::int64_t> channel_indices(const Tensor& x, std::int64_t c) {
  const std::int64_t N = x.size(0), C = x.size(1), HW = x.numel() / (N * C);
  std::vector<std::int64_t> at;
  for (std::int64_t n = 0; n < N; ++n)
    for (std::int64_t i = 0; i < HW; ++i) at.push_back((n * C + c) * HW + i);
  return at;
}

}  // namespace

void ReferenceLayerKernels::batch_norm_forward_train(const Tensor& x, const Tensor& weight, const Tensor& bias,
                                                     Tensor& y, Tensor& running_mean, Tensor& running_var,
                                                     Tensor& save_mean, Tensor& save_invstd, double momentum,
                                                     double eps) {
  dispatch_floating(x.dtype(), "batch_norm (reference)", [&](auto tag) {
    using T = decltype(tag);
    const T *in = x.data<T>(), *w = weight.data<T>(), *b = bias.data<T>();
    T *out = y.data<T>(), *rm = running_mean.data<T>(), *rv = running_var.data<T>();
    for (std::int64_t c = 0; c < x.size(1); ++c) {
      const std::vector<std::int64_t> at = channel_indices(x, c);
      const double m = static_cast<double>(at.size());
      double mean = 0, var = 0;
      for (std::int64_t i : at) mean += in[i];
      mean /= m;
      for (std::int64_t i : at) var += (in[i] - mean) * (in[i] - mean);
      var /= m;
      const double invstd = 1 / std::sqrt(var + eps);
      for (std::int64_t i : at) out[i] = static_cast<T>(w[c] * ((in[i] - mean) * invstd) + b[c]);
      save_mean.data<T>()[c] = static_cast<T>(mean);
      save_invstd.data<T>()[c] = static_cast<T>(invstd);
      rm[c] = static_cast<T>((1 - momentum) * rm[c] + momentum * mean);
      rv[c] = static_cast<T>((1 - momentum) * rv[c] + momentum * var * m / (m - 1));
    }
  });
}

void ReferenceLayerKernels::batch_norm_backward_train(const Tensor& dy, const Tensor& x, const Tensor& weight,
                                                      const Tensor& save_mean, const Tensor& save_invstd, Tensor& dx,
                                                      Tensor& dweight, Tensor& dbias, double /*eps: in invstd*/) {
  dispatch_floating(x.dtype(), "batch_norm backward (reference)", [&](auto tag) {
    using T = decltype(tag);
    const T *g = dy.data<T>(), *in = x.data<T>(), *w = weight.data<T>();
    T* gx = dx.data<T>();
    for (std::int64_t c = 0; c < x.size(1); ++c) {
      const std::vector<std::int64_t> at = channel_indices(x, c);
      const double m = static_cast<double>(at.size());
      const double mean = save_mean.data<T>()[c], invstd = save_invstd.data<T>()[c];
      double dvar = 0, sum_dxhat = 0, sum_centered = 0, dweight_c = 0, dbias_c = 0;
      for (std::int64_t i : at) {
        const double dxhat = g[i] * static_cast<double>(w[c]);
        dvar += dxhat * (in[i] - mean) * -0.5 * invstd * invstd * invstd;
        sum_dxhat += dxhat;
        sum_centered += in[i] - mean;
        dweight_c += g[i] * (in[i] - mean) * invstd;
        dbias_c += g[i];
      }
      const double dmean = -invstd * sum_dxhat + dvar * (-2 / m) * sum_centered;
      for (std::int64_t i : at) {
        const double dxhat = g[i] * static_cast<double>(w[c]);
        gx[i] = static_cast<T>(dxhat * invstd + dvar * 2 * (in[i] - mean) / m + dmean / m);
      }
      dweight.data<T>()[c] = static_cast<T>(dweight_c);
      dbias.data<T>()[c] = static_cast<T>(dbias_c);
    }
  });
}

}  // namespace edat::nn::reference
