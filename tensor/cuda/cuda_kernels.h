// The CUDA backend's kernels, one launcher per Backend operation (internal to tensor/cuda/).
// Each launcher runs on the current device (CudaBackend sets it from the tensors) and queues its kernels on
// current_stream(); the preconditions are those of backend.h (dtypes, devices and shapes already checked).
#pragma once

#include <cstdint>
#include <string>

#include "tensor/backend.h"

namespace edat::cuda_impl {

constexpr int kThreadsPerBlock = 256;

// Blocks for a grid-stride loop over `n` items with `threads` per block: enough to fill the current device, no more.
int grid_size(std::int64_t n, int threads = kThreadsPerBlock);
int multiprocessor_count();  // of the current device, cached

// Calls f(float{}) or f(double{}) for f32 / f64; other dtypes throw "<op> does not support bf16 on CUDA yet".
template <class F>
void dispatch_floating(DType dtype, const char* op, F&& f) {
  switch (dtype) {
    case DType::f32:
      f(float{});
      return;
    case DType::f64:
      f(double{});
      return;
    default:
      throw Error(std::string(op) + " does not support " + dtype_name(dtype) + " on CUDA yet");
  }
}

// cuda_fill.cu
void fill(Tensor& out, double value);
void arange(Tensor& out, double start, double step);
void uniform(Tensor& out, std::uint64_t seed, std::uint64_t first, double low, double high);
void normal(Tensor& out, std::uint64_t seed, std::uint64_t first, double mean, double std);
void convert(const Tensor& src, Tensor& dst);

// cuda_elementwise.cu
void unary(UnaryOp op, const Tensor& x, Tensor& out, double scalar);
void binary(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out);
void expand(const Tensor& x, Tensor& out);

// cuda_reduce.cu
void sum_dim(const Tensor& x, Tensor& out, ReduceLayout layout);
void max_dim(const Tensor& x, Tensor& values, Tensor& indices, ReduceLayout layout);
void max_dim_backward(const Tensor& grad_values, const Tensor& indices, Tensor& grad_x, ReduceLayout layout);

// cuda_matmul.cpp, cuda_transpose.cu
void matmul(const Tensor& a, const Tensor& b, Tensor& out, bool trans_a, bool trans_b);
void transpose2d(const Tensor& x, Tensor& out);

}  // namespace edat::cuda_impl
