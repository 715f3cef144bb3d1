// CudaBackend: the Backend of CUDA devices. It picks the device of the call's tensors (DeviceGuard), serves memory
// from the caching allocators, moves data with cudaMemcpyAsync, and hands the maths to the kernel launchers of
// cuda_kernels.h. Everything is queued on current_stream(); only copies that the host must see wait for it.
#include "tensor/cuda/cuda_backend.h"

#include <algorithm>
#include <array>
#include <atomic>

#include "tensor/cuda/cuda_allocator.h"
#include "tensor/cuda/cuda_check.h"
#include "tensor/cuda/cuda_kernels.h"

namespace edat::cuda_impl {

namespace {

class CudaBackend final : public Backend {
 public:
  // ---- memory ----
  std::shared_ptr<Storage> allocate(std::size_t nbytes, Device device, bool pinned) override {
    if (device.is_cuda()) return allocate_device(nbytes, device.index);
    EDAT_CHECK(pinned, "the CUDA backend allocates device or pinned host memory, not pageable CPU memory");
    return allocate_pinned(nbytes);
  }
  MemoryStats memory_stats(int device_index) const override { return device_memory_stats(device_index); }
  void reset_peak_memory_stats(int device_index) override { reset_device_peak(device_index); }
  void empty_cache() override { empty_all_caches(); }
  void synchronize() override { synchronize_used_devices(); }

  // ---- data movement ----
  void copy(const Tensor& src, Tensor& dst) override {
    EDAT_CHECK(src.nbytes() == dst.nbytes(), "copy: sizes differ: " << src.desc() << " into " << dst.desc());
    const std::size_t nbytes = dst.nbytes();
    if (nbytes == 0) return;
    const Device from = src.device(), to = dst.device();
    if (from.is_cpu() && to.is_cuda()) {
      DeviceGuard guard(to.index);
      EDAT_CUDA_CHECK(
          cudaMemcpyAsync(dst.raw_data(), src.raw_data(), nbytes, cudaMemcpyHostToDevice, current_stream()));
      // Pageable memory may change as soon as we return, so wait; a pinned source stays asynchronous, and its
      // block is not reused before this device's stream has read it.
      if (src.is_pinned()) {
        note_pinned_use(*src.impl()->storage, to.index);
      } else {
        EDAT_CUDA_CHECK(cudaStreamSynchronize(current_stream()));
      }
    } else if (from.is_cuda() && to.is_cpu()) {
      DeviceGuard guard(from.index);
      EDAT_CUDA_CHECK(
          cudaMemcpyAsync(dst.raw_data(), src.raw_data(), nbytes, cudaMemcpyDeviceToHost, current_stream()));
      EDAT_CUDA_CHECK(cudaStreamSynchronize(current_stream()));  // the caller reads dst next
    } else if (from.is_cuda() && to.is_cuda() && from.index == to.index) {
      DeviceGuard guard(to.index);
      if (src.raw_data() != dst.raw_data()) {
        EDAT_CUDA_CHECK(
            cudaMemcpyAsync(dst.raw_data(), src.raw_data(), nbytes, cudaMemcpyDeviceToDevice, current_stream()));
      }
    } else if (from.is_cuda() && to.is_cuda()) {
      // Between devices each has its own stream: wait for src to be written, copy, and wait for the copy, so
      // neither device's later work (or block reuse) races it.
      {
        DeviceGuard guard(from.index);
        EDAT_CUDA_CHECK(cudaStreamSynchronize(current_stream()));
      }
      DeviceGuard guard(to.index);
      EDAT_CUDA_CHECK(
          cudaMemcpyPeerAsync(dst.raw_data(), to.index, src.raw_data(), from.index, nbytes, current_stream()));
      EDAT_CUDA_CHECK(cudaStreamSynchronize(current_stream()));
    } else {
      throw Error("copy: the CUDA backend was given two CPU tensors: " + src.desc() + " into " + dst.desc());
    }
  }
  void convert(const Tensor& src, Tensor& dst) override {
    DeviceGuard guard(dst.device().index);
    cuda_impl::convert(src, dst);
  }
  void fill(Tensor& out, double value) override {
    DeviceGuard guard(out.device().index);
    cuda_impl::fill(out, value);
  }
  void arange(Tensor& out, double start, double step) override {
    DeviceGuard guard(out.device().index);
    cuda_impl::arange(out, start, step);
  }
  void uniform(Tensor& out, std::uint64_t seed, std::uint64_t first, double low, double high) override {
    DeviceGuard guard(out.device().index);
    cuda_impl::uniform(out, seed, first, low, high);
  }
  void normal(Tensor& out, std::uint64_t seed, std::uint64_t first, double mean, double std) override {
    DeviceGuard guard(out.device().index);
    cuda_impl::normal(out, seed, first, mean, std);
  }

  // ---- math ----
  void unary(UnaryOp op, const Tensor& x, Tensor& out, double scalar) override {
    DeviceGuard guard(out.device().index);
    cuda_impl::unary(op, x, out, scalar);
  }
  void binary(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out) override {
    DeviceGuard guard(out.device().index);
    cuda_impl::binary(op, a, b, out);
  }
  void expand(const Tensor& x, Tensor& out) override {
    DeviceGuard guard(out.device().index);
    cuda_impl::expand(x, out);
  }
  void sum_dim(const Tensor& x, Tensor& out, ReduceLayout layout) override {
    DeviceGuard guard(x.device().index);
    cuda_impl::sum_dim(x, out, layout);
  }
  void max_dim(const Tensor& x, Tensor& values, Tensor& indices, ReduceLayout layout) override {
    DeviceGuard guard(x.device().index);
    cuda_impl::max_dim(x, values, indices, layout);
  }
  void max_dim_backward(const Tensor& grad_values, const Tensor& indices, Tensor& grad_x,
                        ReduceLayout layout) override {
    DeviceGuard guard(grad_x.device().index);
    cuda_impl::max_dim_backward(grad_values, indices, grad_x, layout);
  }
  void matmul(const Tensor& a, const Tensor& b, Tensor& out, bool trans_a, bool trans_b) override {
    DeviceGuard guard(out.device().index);
    cuda_impl::matmul(a, b, out, trans_a, trans_b);
  }
  void transpose2d(const Tensor& x, Tensor& out) override {
    DeviceGuard guard(out.device().index);
    cuda_impl::transpose2d(x, out);
  }
};

}  // namespace

Backend& cuda_backend() {
  static auto* backend = new CudaBackend;  // leaked: storages may still call into CUDA code at exit
  return *backend;
}

const DeviceQuery& query_devices() {
  static const DeviceQuery query = [] {
    DeviceQuery result;
    const cudaError_t error = cudaGetDeviceCount(&result.count);
    if (error != cudaSuccess) {
      (void)cudaGetLastError();  // no driver or no device: not an error for a CPU-only run
      result.count = 0;
      result.error = std::string(cudaGetErrorName(error)) + ": " + cudaGetErrorString(error);
    }
    return result;
  }();
  return query;
}

int device_count_or_zero() { return query_devices().count; }

int multiprocessor_count() {
  static std::array<std::atomic<int>, 64> cached{};  // per device; 0 = not queried yet
  int device = 0;
  EDAT_CUDA_CHECK(cudaGetDevice(&device));
  const auto slot = static_cast<std::size_t>(std::clamp(device, 0, 63));
  int count = cached[slot].load(std::memory_order_relaxed);
  if (count == 0) {
    EDAT_CUDA_CHECK(cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, device));
    cached[slot].store(count, std::memory_order_relaxed);
  }
  return count;
}

int grid_size(std::int64_t n, int threads) {
  // Twice the blocks that fit at once (2048 threads per multiprocessor); grid-stride loops do the rest.
  const std::int64_t most = static_cast<std::int64_t>(multiprocessor_count()) * (2048 / threads) * 2;
  return static_cast<int>(std::clamp<std::int64_t>((n + threads - 1) / threads, 1, most));
}

}  // namespace edat::cuda_impl
