// CUDA batch norm in training mode through cuDNN (CUDNN_BATCHNORM_SPATIAL: statistics per channel over N, H, W).
//
// cuDNN computes what functional.h asks for:
//   save_mean = mean,  save_invstd = 1 / sqrt(biased var + eps)   (cuDNN's "resultSaveInvVariance" is this invstd)
//   running_mean = (1 - factor) running_mean + factor mean,
//   running_var  = (1 - factor) running_var  + factor var m / (m - 1)   (cuDNN keeps the unbiased variance, which
//   PyTorch's cuDNN path relies on too), with exponentialAverageFactor = momentum.
// The backward takes the saved mean and invstd; cuDNN's documentation asks for the forward's epsilon there too, so
// the op passes it through (an eps of 1e-3 is tested).
//
// f64: cuDNN's legacy batch norm has f64 kernels, but should an installation lack them (a NOT_SUPPORTED status), the
// error opens with kCudnnHasNoF64Engine, which the f64 tests skip on, saying so.
#include <climits>

#include <string>

#include "layers/cuda/cuda_layer_kernels.h"
#include "layers/cuda/cudnn_status.h"
#include "layers/cuda/cudnn_wrapper.h"

namespace edat::nn::cuda_impl {

namespace {

// x (N, C, ...) as cuDNN's (N, C, H W..., 1), and the (1, C, 1, 1) descriptor of weight, bias, running and saved
// statistics, derived from it as cuDNN asks.
struct BatchNormDescriptors {
  explicit BatchNormDescriptors(const Tensor& x)
      : data(x.dtype(), x.size(0), x.size(1), x.numel() / (x.size(0) * x.size(1)), 1, "batch_norm") {
    EDAT_CUDNN_CHECK(cudnnDeriveBNTensorDescriptor(parameters.get(), data.get(), CUDNN_BATCHNORM_SPATIAL));
  }
  TensorDescriptor data;
  TensorDescriptor parameters;
};

// EDAT_CUDNN_CHECK, but an f64 problem that cuDNN does not support says so in the words the tests recognise.
void check_batch_norm(cudnnStatus_t status, const Tensor& x, const char* call, int line) {
  if (status == CUDNN_STATUS_SUCCESS) return;
  if (x.dtype() == DType::f64 && classify_cudnn_status(status) == CudnnFault::algorithm_unavailable) {
    throw Error(std::string(kCudnnHasNoF64Engine) + ": " + call + " of " + x.desc() + ": " +
                cudnnGetErrorString(status));
  }
  throw_cudnn_error(status, call, __FILE__, line);
}

}  // namespace

void batch_norm_forward_train(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& y,
                              Tensor& running_mean, Tensor& running_var, Tensor& save_mean, Tensor& save_invstd,
                              double momentum, double eps) {
  EDAT_CHECK(eps >= CUDNN_BN_MIN_EPSILON, "batch_norm: cuDNN needs eps >= " << CUDNN_BN_MIN_EPSILON << ", got " << eps
                                                                            << " (input " << x.desc() << ")");
  // Some of cuDNN's batch norm kernels index with 32 bits.
  EDAT_CHECK(x.numel() <= INT_MAX, "batch_norm: input " << x.desc() << " has more than 2^31 - 1 elements, which "
                                                        << "cuDNN's batch norm cannot take");
  if (x.numel() == 0) return;
  const BatchNormDescriptors desc(x);
  const ScalingFactor one(x.dtype(), 1.0), zero(x.dtype(), 0.0);
  check_batch_norm(cudnnBatchNormalizationForwardTraining(
                       cudnn_handle(x.device().index), CUDNN_BATCHNORM_SPATIAL, one.get(), zero.get(),
                       desc.data.get(), x.raw_data(), desc.data.get(), y.raw_data(), desc.parameters.get(),
                       weight.raw_data(), bias.raw_data(), momentum, running_mean.raw_data(), running_var.raw_data(),
                       eps, save_mean.raw_data(), save_invstd.raw_data()),
                   x, "cudnnBatchNormalizationForwardTraining", __LINE__);
}

// dx, dweight, dbias (all overwritten): the backward of layers/reference/batch_norm_reference.cpp, by cuDNN.
void batch_norm_backward_train(const Tensor& dy, const Tensor& x, const Tensor& weight, const Tensor& save_mean,
                               const Tensor& save_invstd, Tensor& dx, Tensor& dweight, Tensor& dbias, double eps) {
  if (x.numel() == 0) return;
  const BatchNormDescriptors desc(x);
  const ScalingFactor one(x.dtype(), 1.0), zero(x.dtype(), 0.0);
  check_batch_norm(cudnnBatchNormalizationBackward(
                       cudnn_handle(x.device().index), CUDNN_BATCHNORM_SPATIAL, one.get(), zero.get(), one.get(),
                       zero.get(), desc.data.get(), x.raw_data(), desc.data.get(), dy.raw_data(), desc.data.get(),
                       dx.raw_data(), desc.parameters.get(), weight.raw_data(), dweight.raw_data(), dbias.raw_data(),
                       eps, save_mean.raw_data(), save_invstd.raw_data()),
                   x, "cudnnBatchNormalizationBackward", __LINE__);
}

}  // namespace edat::nn::cuda_impl
