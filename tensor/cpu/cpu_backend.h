// The CPU backend: plain loops parallelised with OpenMP, Eigen for matrix products.
// Its methods are spread over cpu_backend.cpp (memory, copies, fills), cpu_elementwise.cpp, cpu_reduce.cpp and
// cpu_matmul.cpp.
#pragma once

#include "tensor/backend.h"

namespace edat::cpu_impl {

class CpuBackend final : public Backend {
 public:
  std::shared_ptr<Storage> allocate(std::size_t nbytes, Device device, bool pinned) override;
  MemoryStats memory_stats(int) const override { return {}; }
  void reset_peak_memory_stats(int) override {}
  void empty_cache() override {}
  void synchronize() override {}

  void copy(const Tensor& src, Tensor& dst) override;
  void convert(const Tensor& src, Tensor& dst) override;
  void fill(Tensor& out, double value) override;
  void arange(Tensor& out, double start, double step) override;
  void uniform(Tensor& out, std::uint64_t seed, std::uint64_t first, double low, double high) override;
  void normal(Tensor& out, std::uint64_t seed, std::uint64_t first, double mean, double std) override;

  void unary(UnaryOp op, const Tensor& x, Tensor& out, double scalar) override;
  void binary(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out) override;
  void expand(const Tensor& x, Tensor& out) override;
  void sum_dim(const Tensor& x, Tensor& out, ReduceLayout layout) override;
  void max_dim(const Tensor& x, Tensor& values, Tensor& indices, ReduceLayout layout) override;
  void max_dim_backward(const Tensor& grad_values, const Tensor& indices, Tensor& grad_x,
                        ReduceLayout layout) override;
  void matmul(const Tensor& a, const Tensor& b, Tensor& out, bool trans_a, bool trans_b) override;
  void transpose2d(const Tensor& x, Tensor& out) override;
};

Backend& cpu_backend();

// Runs f(T{}) with T the C++ type of a floating dtype the CPU kernels compute in (f32, f64).
template <class F> void dispatch_floating(DType dtype, const char* op, F&& f) {
  switch (dtype) {
    case DType::f32: f(float{}); return;
    case DType::f64: f(double{}); return;
    default: throw Error(std::string(op) + " does not support " + dtype_name(dtype) + " on the CPU");
  }
}

// Loops shorter than this run on one thread: below it, waking the OpenMP team costs more than it saves.
constexpr std::int64_t kParallelGrain = 32768;

}  // namespace edat::cpu_impl
