// The one thin layer between edat and cuDNN (internal to layers/cuda/).
//
//   EDAT_CUDNN_CHECK(cudnnAddTensor(...));   throws edat::Error naming the call, file:line and cuDNN's message
//   cudnn_handle(device)                     the handle of that (current) device, bound to current_stream()
//   TensorDescriptor, FilterDescriptor, ConvolutionDescriptor, ActivationDescriptor   RAII descriptors
//   ConvProblem + convolution_forward / _backward_data / _backward_filter               a convolution pass run
//                                                                                      with a cached algorithm
//
// cuDNN 9 still ships the legacy API used here (descriptors, cudnnConvolution*, cudnnBatchNormalization*); it is
// marked deprecated (warnings only with CUDNN_WARN_DEPRECATED), which is why every call stays behind this layer.
//
// Algorithm choice. A convolution pass is keyed by everything that changes the choice: the pass, device, dtype,
// layout (NCHW), math type, the shapes of x, weight and y, padding, stride, dilation and groups. The first time a
// key is seen, its candidate algorithms are ranked by cuDNN's heuristics (cudnnGet*Algorithm_v7) or, with
// EDAT_CUDNN_BENCHMARK=1, by timing them on the actual tensors (cudnnFind*AlgorithmEx); the ranked list is cached.
// Each call tries the candidates in order: one whose workspace cannot be allocated (edat's "CUDA out of memory")
// or that cuDNN reports as not supported (a NOT_SUPPORTED code, or its own device allocation failing: cudnn_status.h;
// an environment fault such as a missing NVRTC is thrown instead, never skipped) is skipped;
// the list always holds an algorithm needing no workspace (cuDNN's, or IMPLICIT_GEMM / ALGO_0 appended), so running
// out of memory for a workspace never stops a convolution. When a later candidate runs, it moves to the front: later
// calls with the key run it first (and give the same result). In deterministic mode (tensor/determinism.h, part of
// the key) only candidates whose perf entry says CUDNN_DETERMINISTIC are kept, ending with the deterministic
// BWD_DATA_ALGO_1 / BWD_FILTER_ALGO_1. EDAT_CUDNN_VERBOSE=1 prints each choice once per key.
//
// Math: f32 is exact fp32 (CUDNN_FMA_MATH: cuDNN's default math lets fp32 convolutions use TF32 tensor cores on
// Ampere and newer, about 1e-3 relative error) unless EDAT_ALLOW_TF32=1 or EDAT_ALLOW_TF32_CUDNN=1
// (tensor/cuda/tf32.h); f64 uses CUDNN_DATA_DOUBLE throughout.
// Workspaces come from edat's caching allocator.
#pragma once

#include <cudnn.h>

#include <cstddef>
#include <cstdint>

#include "layers/functional.h"
#include "tensor/cuda/cuda_check.h"
#include "tensor/tensor.h"

namespace edat::nn::cuda_impl {

[[noreturn]] void throw_cudnn_error(cudnnStatus_t status, const char* call, const char* file, int line);

// The cuDNN handle of cuda:`device`, which must be the current device; created on first use (never destroyed,
// like the cuBLAS handles) and bound to edat::cuda_impl::current_stream().
cudnnHandle_t cudnn_handle(int device);

// CUDNN_DATA_FLOAT / CUDNN_DATA_DOUBLE; other dtypes throw "<op> does not support bf16 on CUDA yet".
cudnnDataType_t cudnn_data_type(DType dtype, const char* op);

// A dim for cuDNN's 32-bit interface; throws naming `op` when it does not fit.
int to_cudnn_int(std::int64_t value, const char* op);

// cuDNN's alpha / beta arguments: a pointer to a double for f64 data, to a float otherwise.
class ScalingFactor {
 public:
  ScalingFactor(DType dtype, double value)
      : is_double_(dtype == DType::f64), d_(value), f_(static_cast<float>(value)) {}
  const void* get() const { return is_double_ ? static_cast<const void*>(&d_) : static_cast<const void*>(&f_); }

 private:
  bool is_double_;
  double d_;
  float f_;
};

// An owned cuDNN descriptor of type Handle, created by Create and destroyed by Destroy.
template <class Handle, cudnnStatus_t (*Create)(Handle*), cudnnStatus_t (*Destroy)(Handle)>
class Descriptor {
 public:
  Descriptor();
  ~Descriptor() { (void)Destroy(handle_); }  // a destructor must not throw
  Descriptor(const Descriptor&) = delete;
  Descriptor& operator=(const Descriptor&) = delete;
  Handle get() const { return handle_; }

 private:
  Handle handle_ = nullptr;
};

// A packed NCHW tensor (or, default-constructed, an unset one for cudnnDeriveBNTensorDescriptor).
class TensorDescriptor
    : public Descriptor<cudnnTensorDescriptor_t, cudnnCreateTensorDescriptor, cudnnDestroyTensorDescriptor> {
 public:
  TensorDescriptor() = default;
  TensorDescriptor(DType dtype, std::int64_t n, std::int64_t c, std::int64_t h, std::int64_t w, const char* op);
  TensorDescriptor(DType dtype, const Shape& nchw, const char* op);  // a 4-D shape
};

// A convolution weight (K, C / groups, R, S), NCHW.
class FilterDescriptor
    : public Descriptor<cudnnFilterDescriptor_t, cudnnCreateFilterDescriptor, cudnnDestroyFilterDescriptor> {
 public:
  FilterDescriptor(DType dtype, const Shape& kcrs, const char* op);
};

// Cross-correlation (what PyTorch and edat call convolution) with padding, stride, dilation and groups.
class ConvolutionDescriptor : public Descriptor<cudnnConvolutionDescriptor_t, cudnnCreateConvolutionDescriptor,
                                                cudnnDestroyConvolutionDescriptor> {
 public:
  ConvolutionDescriptor(DType dtype, const Conv2dOptions& options, cudnnMathType_t math, const char* op);
  void set_math_type(cudnnMathType_t math) const;
};

// An activation (for cuDNN's fused convolution + bias + activation and batch norm + activation).
class ActivationDescriptor : public Descriptor<cudnnActivationDescriptor_t, cudnnCreateActivationDescriptor,
                                               cudnnDestroyActivationDescriptor> {
 public:
  explicit ActivationDescriptor(cudnnActivationMode_t mode, double coef = 0.0);
};

// The math type edat's convolutions start from: exact fp32 (CUDNN_FMA_MATH) unless TF32 is allowed
// (tensor/cuda/tf32.h), then CUDNN_DEFAULT_MATH (TF32 tensor cores allowed, never a conversion to fp16);
// CUDNN_DEFAULT_MATH for f64.
cudnnMathType_t default_math_type(DType dtype);

// One convolution's geometry, described for cuDNN: x (N, C, H, W), weight (K, C / groups, R, S), y (N, K, P, Q).
// The same problem serves all three passes (for the backward passes y's shape is dy's and x's is dx's).
struct ConvProblem {
  ConvProblem(const Shape& x_shape, const Shape& weight_shape, const Shape& y_shape, const Conv2dOptions& options,
              DType dtype, int device);

  DType dtype;
  int device;
  Shape x_shape, weight_shape, y_shape;
  Conv2dOptions options;
  cudnnMathType_t math;  // the math type the algorithms are chosen for
  TensorDescriptor x;
  FilterDescriptor weight;
  TensorDescriptor y;
  ConvolutionDescriptor conv;
};

// y = conv(x, weight); dx = conv_transpose(dy, weight); dweight = correlate(x, dy). Each overwrites its output,
// queued on current_stream() of the current device (problem.device).
void convolution_forward(const ConvProblem& problem, const void* x, const void* weight, void* y);
void convolution_backward_data(const ConvProblem& problem, const void* weight, const void* dy, void* dx);
void convolution_backward_filter(const ConvProblem& problem, const void* x, const void* dy, void* dweight);

// ---- template definitions ----

template <class Handle, cudnnStatus_t (*Create)(Handle*), cudnnStatus_t (*Destroy)(Handle)>
Descriptor<Handle, Create, Destroy>::Descriptor() {
  const cudnnStatus_t status = Create(&handle_);
  if (status != CUDNN_STATUS_SUCCESS) throw_cudnn_error(status, "creating a cuDNN descriptor", __FILE__, __LINE__);
}

}  // namespace edat::nn::cuda_impl

#define EDAT_CUDNN_CHECK(expr)                                                                 \
  do {                                                                                         \
    const cudnnStatus_t edat_cudnn_status_ = (expr);                                           \
    if (edat_cudnn_status_ != CUDNN_STATUS_SUCCESS)                                            \
      ::edat::nn::cuda_impl::throw_cudnn_error(edat_cudnn_status_, #expr, __FILE__, __LINE__); \
  } while (false)
