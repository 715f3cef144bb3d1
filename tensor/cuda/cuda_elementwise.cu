// Elementwise kernels: unary maths, binary maths with NumPy broadcasting, and broadcast copies (expand).
//
// Every kernel is a grid-stride loop over the output's linear index i (64-bit). Inputs are read at
// BroadcastIndexer::offset(k, i), or at i itself when input k is laid out like the output (the fast path).
// Math runs in the element type: float functions for f32 (expf, powf ...), double ones for f64.
// `out` may alias an input of the same shape: each thread reads element i before writing element i.
#include <cstdint>

#include "tensor/broadcast.h"
#include "tensor/cuda/cuda_check.h"
#include "tensor/cuda/cuda_kernels.h"
#include "tensor/cuda/grid_stride.cuh"

namespace edat::cuda_impl {

namespace {

template <class T>
struct Math;
template <>
struct Math<float> {
  static __device__ float abs(float x) { return fabsf(x); }
  static __device__ float exp(float x) { return expf(x); }
  static __device__ float log(float x) { return logf(x); }
  static __device__ float sqrt(float x) { return sqrtf(x); }
  static __device__ float pow(float x, float y) { return powf(x, y); }
  static __device__ float log1p(float x) { return log1pf(x); }
};
template <>
struct Math<double> {
  static __device__ double abs(double x) { return ::fabs(x); }
  static __device__ double exp(double x) { return ::exp(x); }
  static __device__ double log(double x) { return ::log(x); }
  static __device__ double sqrt(double x) { return ::sqrt(x); }
  static __device__ double pow(double x, double y) { return ::pow(x, y); }
  static __device__ double log1p(double x) { return ::log1p(x); }
};

// ---- unary ops: y = f(x), with `s` the scalar argument where the op has one ----
template <class T>
struct Neg {
  __device__ T operator()(T x) const { return -x; }
};
template <class T>
struct Abs {
  __device__ T operator()(T x) const { return Math<T>::abs(x); }
};
template <class T>
struct Sign {  // -1, 0 or 1 (0 for NaN)
  __device__ T operator()(T x) const { return static_cast<T>((x > T(0)) - (x < T(0))); }
};
template <class T>
struct Exp {
  __device__ T operator()(T x) const { return Math<T>::exp(x); }
};
template <class T>
struct Log {
  __device__ T operator()(T x) const { return Math<T>::log(x); }
};
template <class T>
struct Sqrt {
  __device__ T operator()(T x) const { return Math<T>::sqrt(x); }
};
template <class T>
struct Relu {  // max(x, 0); NaN stays NaN, as on the CPU and in PyTorch
  __device__ T operator()(T x) const { return x < T(0) ? T(0) : x; }
};
template <class T>
struct Relu6 {  // min(max(x, 0), 6); NaN stays NaN, as on the CPU and in PyTorch
  __device__ T operator()(T x) const { return x < T(0) ? T(0) : (x > T(6) ? T(6) : x); }
};
template <class T>
struct AddScalar {
  T s;
  __device__ T operator()(T x) const { return x + s; }
};
template <class T>
struct MulScalar {
  T s;
  __device__ T operator()(T x) const { return x * s; }
};
template <class T>
struct PowScalar {
  T s;
  __device__ T operator()(T x) const { return Math<T>::pow(x, s); }
};

template <class T>
struct Sigmoid {  // 1 / (1 + e^-x): e^-x overflows to inf for very negative x, giving 0, as on the CPU
  __device__ T operator()(T x) const { return T(1) / (T(1) + Math<T>::exp(-x)); }
};
template <class T>
struct LogSigmoid {  // min(x, 0) - log1p(e^-|x|): no overflow for large |x|
  __device__ T operator()(T x) const { return (x < T(0) ? x : T(0)) - Math<T>::log1p(Math<T>::exp(-Math<T>::abs(x))); }
};

// ---- binary ops: out = f(a, b) ----
template <class T>
struct Add {
  __device__ T operator()(T a, T b) const { return a + b; }
};
template <class T>
struct Sub {
  __device__ T operator()(T a, T b) const { return a - b; }
};
template <class T>
struct Mul {
  __device__ T operator()(T a, T b) const { return a * b; }
};
template <class T>
struct Div {
  __device__ T operator()(T a, T b) const { return a / b; }
};
template <class T>
struct ReluBackward {  // a * (b > 0): the gradient a flowing back through relu(b)
  __device__ T operator()(T a, T b) const { return b > T(0) ? a : T(0); }  // a select, as on the CPU
};
template <class T>
struct Relu6Backward {  // a * (0 < b < 6): the gradient a flowing back through b = relu6(x)
  __device__ T operator()(T a, T b) const { return b > T(0) && b < T(6) ? a : T(0); }
};
template <class T>
struct Greater {  // 1 where a > b, else 0 (NaN compares false)
  __device__ T operator()(T a, T b) const { return a > b ? T(1) : T(0); }
};

template <class T, class Op>
__global__ void unary_kernel(const T* x, T* out, std::int64_t n, Op op) {
  for (std::int64_t i = first_index(); i < n; i += grid_stride()) out[i] = op(x[i]);
}

template <class T, class Op>
__global__ void binary_contiguous_kernel(const T* a, const T* b, T* out, std::int64_t n, Op op) {
  for (std::int64_t i = first_index(); i < n; i += grid_stride()) out[i] = op(a[i], b[i]);
}

template <class T, class Op>
__global__ void binary_broadcast_kernel(const T* a, const T* b, T* out, BroadcastIndexer indexer, Op op) {
  for (std::int64_t i = first_index(); i < indexer.numel; i += grid_stride()) {
    const std::int64_t ia = indexer.contiguous[0] ? i : indexer.offset(0, i);
    const std::int64_t ib = indexer.contiguous[1] ? i : indexer.offset(1, i);
    out[i] = op(a[ia], b[ib]);
  }
}

// out[i] = x[offset(0, i)] for elements of any dtype, moved as raw words of their size.
template <class Word>
__global__ void expand_kernel(const Word* x, Word* out, BroadcastIndexer indexer) {
  for (std::int64_t i = first_index(); i < indexer.numel; i += grid_stride()) out[i] = x[indexer.offset(0, i)];
}

template <class T, class Op>
void launch_unary(const Tensor& x, Tensor& out, Op op) {
  const std::int64_t n = out.numel();
  if (n == 0) return;
  unary_kernel<<<grid_size(n), kThreadsPerBlock, 0, current_stream()>>>(static_cast<const T*>(x.raw_data()),
                                                                        static_cast<T*>(out.raw_data()), n, op);
  EDAT_CUDA_CHECK_LAUNCH();
}

template <class T, class Op>
void launch_binary(const Tensor& a, const Tensor& b, Tensor& out, Op op) {
  const std::int64_t n = out.numel();
  if (n == 0) return;
  const T* pa = static_cast<const T*>(a.raw_data());
  const T* pb = static_cast<const T*>(b.raw_data());
  T* po = static_cast<T*>(out.raw_data());
  const BroadcastIndexer indexer = make_broadcast_indexer(out.shape(), a.shape(), &b.shape());
  if (indexer.contiguous[0] && indexer.contiguous[1]) {
    binary_contiguous_kernel<<<grid_size(n), kThreadsPerBlock, 0, current_stream()>>>(pa, pb, po, n, op);
  } else {
    binary_broadcast_kernel<<<grid_size(n), kThreadsPerBlock, 0, current_stream()>>>(pa, pb, po, indexer, op);
  }
  EDAT_CUDA_CHECK_LAUNCH();
}

const char* unary_name(UnaryOp op) {
  switch (op) {
    case UnaryOp::neg:
      return "neg";
    case UnaryOp::abs:
      return "abs";
    case UnaryOp::sign:
      return "sign";
    case UnaryOp::exp:
      return "exp";
    case UnaryOp::log:
      return "log";
    case UnaryOp::sqrt:
      return "sqrt";
    case UnaryOp::relu:
      return "relu";
    case UnaryOp::relu6:
      return "relu6";
    case UnaryOp::add_scalar:
      return "add_scalar";
    case UnaryOp::mul_scalar:
      return "mul_scalar";
    case UnaryOp::pow_scalar:
      return "pow_scalar";
    case UnaryOp::sigmoid:
      return "sigmoid";
    case UnaryOp::log_sigmoid:
      return "log_sigmoid";
  }
  return "unary op";
}

const char* binary_name(BinaryOp op) {
  switch (op) {
    case BinaryOp::add:
      return "add";
    case BinaryOp::sub:
      return "sub";
    case BinaryOp::mul:
      return "mul";
    case BinaryOp::div:
      return "div";
    case BinaryOp::relu_backward:
      return "relu_backward";
    case BinaryOp::relu6_backward:
      return "relu6_backward";
    case BinaryOp::greater:
      return "greater";
  }
  return "binary op";
}

}  // namespace

void unary(UnaryOp op, const Tensor& x, Tensor& out, double scalar) {
  dispatch_floating(out.dtype(), unary_name(op), [&](auto zero) {
    using T = decltype(zero);
    const T s = static_cast<T>(scalar);
    switch (op) {
      case UnaryOp::neg:
        return launch_unary<T>(x, out, Neg<T>{});
      case UnaryOp::abs:
        return launch_unary<T>(x, out, Abs<T>{});
      case UnaryOp::sign:
        return launch_unary<T>(x, out, Sign<T>{});
      case UnaryOp::exp:
        return launch_unary<T>(x, out, Exp<T>{});
      case UnaryOp::log:
        return launch_unary<T>(x, out, Log<T>{});
      case UnaryOp::sqrt:
        return launch_unary<T>(x, out, Sqrt<T>{});
      case UnaryOp::relu:
        return launch_unary<T>(x, out, Relu<T>{});
      case UnaryOp::relu6:
        return launch_unary<T>(x, out, Relu6<T>{});
      case UnaryOp::add_scalar:
        return launch_unary<T>(x, out, AddScalar<T>{s});
      case UnaryOp::mul_scalar:
        return launch_unary<T>(x, out, MulScalar<T>{s});
      case UnaryOp::pow_scalar:
        return launch_unary<T>(x, out, PowScalar<T>{s});
      case UnaryOp::sigmoid:
        return launch_unary<T>(x, out, Sigmoid<T>{});
      case UnaryOp::log_sigmoid:
        return launch_unary<T>(x, out, LogSigmoid<T>{});
    }
    throw Error("unary: unknown op on CUDA");
  });
}

void binary(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out) {
  dispatch_floating(out.dtype(), binary_name(op), [&](auto zero) {
    using T = decltype(zero);
    switch (op) {
      case BinaryOp::add:
        return launch_binary<T>(a, b, out, Add<T>{});
      case BinaryOp::sub:
        return launch_binary<T>(a, b, out, Sub<T>{});
      case BinaryOp::mul:
        return launch_binary<T>(a, b, out, Mul<T>{});
      case BinaryOp::div:
        return launch_binary<T>(a, b, out, Div<T>{});
      case BinaryOp::relu_backward:
        return launch_binary<T>(a, b, out, ReluBackward<T>{});
      case BinaryOp::relu6_backward:
        return launch_binary<T>(a, b, out, Relu6Backward<T>{});
      case BinaryOp::greater:
        return launch_binary<T>(a, b, out, Greater<T>{});
    }
    throw Error("binary: unknown op on CUDA");
  });
}

void expand(const Tensor& x, Tensor& out) {
  const std::int64_t n = out.numel();
  if (n == 0) return;
  const BroadcastIndexer indexer = make_broadcast_indexer(out.shape(), x.shape());
  if (indexer.contiguous[0]) {  // same layout: a plain copy
    if (out.raw_data() != x.raw_data()) {
      EDAT_CUDA_CHECK(
          cudaMemcpyAsync(out.raw_data(), x.raw_data(), out.nbytes(), cudaMemcpyDeviceToDevice, current_stream()));
    }
    return;
  }
  const int blocks = grid_size(n);
  switch (element_size(out.dtype())) {
    case 2:
      expand_kernel<<<blocks, kThreadsPerBlock, 0, current_stream()>>>(
          static_cast<const std::uint16_t*>(x.raw_data()), static_cast<std::uint16_t*>(out.raw_data()), indexer);
      break;
    case 4:
      expand_kernel<<<blocks, kThreadsPerBlock, 0, current_stream()>>>(
          static_cast<const std::uint32_t*>(x.raw_data()), static_cast<std::uint32_t*>(out.raw_data()), indexer);
      break;
    case 8:
      expand_kernel<<<blocks, kThreadsPerBlock, 0, current_stream()>>>(
          static_cast<const std::uint64_t*>(x.raw_data()), static_cast<std::uint64_t*>(out.raw_data()), indexer);
      break;
    default:
      throw Error(std::string("expand: unsupported dtype ") + dtype_name(out.dtype()) + " on CUDA");
  }
  EDAT_CUDA_CHECK_LAUNCH();
}

}  // namespace edat::cuda_impl
