// The kernel interface that each device implements: the CPU backend (tensor/cpu/) and the CUDA backend
// (tensor/cuda/). Ops in autograd/ validate their arguments, allocate outputs and then call these kernels, so a
// kernel may assume: dtypes and devices already match, outputs are allocated with the right shape, and all
// tensors are contiguous. Elementwise kernels allow `out` to alias an input of the same shape.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "tensor/tensor.h"

namespace edat {

enum class UnaryOp {
  neg,         // -x
  abs,         // |x|
  sign,        // -1, 0 or 1
  exp,         // e^x
  log,         // ln x
  sqrt,        // sqrt x
  relu,        // max(x, 0)
  relu6,       // min(max(x, 0), 6)
  add_scalar,  // x + s
  mul_scalar,  // x * s
  pow_scalar,  // x^s
  sigmoid,     // 1 / (1 + e^-x)
  log_sigmoid, // ln(1 / (1 + e^-x)) = min(x, 0) - ln(1 + e^-|x|), stable for large |x|
};

enum class BinaryOp {
  add,            // a + b
  sub,            // a - b
  mul,            // a * b
  div,            // a / b
  relu_backward,  // a * (b > 0): the gradient a flowing through relu(b)
  relu6_backward, // a * (0 < b < 6): the gradient a flowing back to x where b = relu6(x)
  greater,        // 1 where a > b, else 0 (0 when either is NaN)
};

// A reduction over one run of dims, with the tensor viewed as (outer, reduced, inner), row-major.
struct ReduceLayout {
  std::int64_t outer = 1;
  std::int64_t reduced = 1;
  std::int64_t inner = 1;
};

// Device memory counters of a caching allocator (the CPU backend reports zeros).
struct MemoryStats {
  std::size_t bytes_in_use = 0;       // bytes held by live tensors (rounded up to the allocator's size classes)
  std::size_t peak_bytes_in_use = 0;  // maximum of bytes_in_use since start or the last reset
  std::size_t bytes_cached = 0;       // freed blocks kept for reuse
  std::size_t allocations = 0;        // allocation requests served
  std::size_t cache_hits = 0;         // ... of which reused a cached block
  std::size_t device_allocations = 0; // ... of which called cudaMalloc
};

class Backend {
 public:
  virtual ~Backend() = default;

  // ---- memory ----
  // nbytes on `device` (pinned host memory when device is the CPU and pinned is set).
  virtual std::shared_ptr<Storage> allocate(std::size_t nbytes, Device device, bool pinned) = 0;
  virtual MemoryStats memory_stats(int device_index) const = 0;
  virtual void reset_peak_memory_stats(int device_index) = 0;
  virtual void empty_cache() = 0;  // returns every cached, unused block to the system
  virtual void synchronize() = 0;  // waits for all queued work

  // ---- data movement ----
  // Copies src into dst (same dtype and numel); one of them is on this backend's device, the other on it or the CPU.
  virtual void copy(const Tensor& src, Tensor& dst) = 0;
  virtual void convert(const Tensor& src, Tensor& dst) = 0;  // same device and numel, different dtypes
  virtual void fill(Tensor& out, double value) = 0;
  virtual void arange(Tensor& out, double start, double step) = 0;  // out[i] = start + i * step
  // Random fills from the counter-based stream of random.h, positions starting at `first`.
  virtual void uniform(Tensor& out, std::uint64_t seed, std::uint64_t first, double low, double high) = 0;
  virtual void normal(Tensor& out, std::uint64_t seed, std::uint64_t first, double mean, double std) = 0;

  // ---- math ----
  virtual void unary(UnaryOp op, const Tensor& x, Tensor& out, double scalar) = 0;
  virtual void binary(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out) = 0;  // a, b broadcast to out
  virtual void expand(const Tensor& x, Tensor& out) = 0;  // copies x broadcast to out's shape
  // out[o, i] = sum over r of x[o, r, i], accumulated in f64 on the CPU.
  virtual void sum_dim(const Tensor& x, Tensor& out, ReduceLayout layout) = 0;
  // values[o, i] = max over r of x[o, r, i]; indices (i64) = the first r reaching it.
  virtual void max_dim(const Tensor& x, Tensor& values, Tensor& indices, ReduceLayout layout) = 0;
  // grad_x[o, indices[o, i], i] += grad_values[o, i]; grad_x must be zero-filled by the caller.
  virtual void max_dim_backward(const Tensor& grad_values, const Tensor& indices, Tensor& grad_x,
                                ReduceLayout layout) = 0;
  // out = op(a) op(b) for 2-D tensors, op = transpose where the flag is set.
  virtual void matmul(const Tensor& a, const Tensor& b, Tensor& out, bool trans_a, bool trans_b) = 0;
  virtual void transpose2d(const Tensor& x, Tensor& out) = 0;  // x (m, n) -> out (n, m)
};

// The backend that runs kernels for `device`. Throws edat::Error when the device is CUDA and this build has no
// CUDA backend, or the machine has no such device.
Backend& backend(Device device);

namespace cuda {
bool is_built();        // this build includes the CUDA backend
bool is_available();    // ... and a CUDA device is present with a working driver
// Why is_available() is false, in words ("this edat build has no CUDA backend ...", or the CUDA runtime's error
// name and text, e.g. "cudaGetDeviceCount failed: cudaErrorNoDevice: ..."); empty when a device is available.
std::string unavailable_reason();
int device_count();     // 0 when not available
MemoryStats memory_stats(int device_index = 0);
void reset_peak_memory_stats(int device_index = 0);
void empty_cache();
void synchronize();
}  // namespace cuda

}  // namespace edat
