// Multi-tensor CUDA kernels of the optimizers: one launch updates every parameter.
//
// The tensors of a call are numbered in chunks of kChunk elements, tensor after tensor. A device table holds one
// Entry per tensor (its pointers, size and first chunk); a second device array holds the gradient pointers. Each block
// takes chunks in a grid-stride loop, finds the chunk's tensor by binary search over the table's first chunks, and
// updates the chunk's elements with the rules of optim/update_rules.h (the very functions the CPU runs).
//
// The kernels keep the tables of each parameter list themselves (TableStore), so that the device-neutral optimizer
// interface carries no CUDA state, and upload them only when something changes: the parameter/state table when the
// set of updated tensors or their storage changes, the gradient pointers when backward made new gradients elsewhere.
// Uploads go through pinned staging memory, so they stay asynchronous (the pinned cache keeps the staging block until
// the copy has run). Per-tensor step numbers are stored as a lag behind the call's largest step, which is a kernel
// argument: while every tensor updates every step the table stays as it is.
#include <cstdint>
#include <cstring>
#include <list>
#include <mutex>

#include "optim/cuda/cuda_optim_kernels.h"
#include "tensor/backend.h"
#include "tensor/cuda/cuda_check.h"
#include "tensor/cuda/cuda_kernels.h"
#include "tensor/factory.h"

namespace edat::optim::cuda_impl {

using edat::cuda_impl::current_stream;
using edat::cuda_impl::DeviceGuard;
using edat::cuda_impl::dispatch_floating;
using edat::cuda_impl::multiprocessor_count;

namespace {

constexpr std::int64_t kChunk = 4096;  // elements a block updates per iteration (16 per thread)
constexpr int kThreads = 256;

// One tensor of a fused launch.
struct Entry {
  void* param;   // the tensor updated (the gradient itself when clipping)
  void* m;       // first moment: momentum buffer / exp_avg, or null
  void* v;       // second moment: exp_avg_sq, or null
  std::int64_t numel;
  std::int64_t chunk_begin;  // its first chunk in the launch's numbering
  std::int64_t step_lag;     // step_base - this tensor's step number
};
static_assert(sizeof(Entry) % sizeof(std::int64_t) == 0, "entries are uploaded as 64-bit words");

std::int64_t g_launches = 0, g_table_uploads = 0, g_grad_uploads = 0;

// Copies `bytes` of host data into the device tensor `dst` (i64 words), resized as needed, through pinned staging.
void upload(Tensor& dst, const void* data, std::size_t bytes, int device) {
  const auto words = static_cast<std::int64_t>(bytes / sizeof(std::int64_t));
  if (!dst.defined() || dst.numel() != words || dst.device() != Device::cuda(device))
    dst = empty({words}, {.dtype = DType::i64, .device = Device::cuda(device)});
  Tensor staging = empty({words}, {.dtype = DType::i64, .pinned = true});
  std::memcpy(staging.raw_data(), data, bytes);
  dst.copy_(staging);  // asynchronous from pinned memory
}

template <class T>
bool same_bytes(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0);
}

// The device tables of one parameter list (or of one clipping call).
class DeviceTables {
 public:
  void sync(int device, std::vector<Entry> entries, std::vector<const void*> grads, std::int64_t chunks) {
    const bool moved = device != device_, has_rows = !entries.empty();
    if (has_rows && (moved || !same_bytes(entries, host_entries_))) {
      upload(entries_, entries.data(), entries.size() * sizeof(Entry), device);
      host_entries_ = std::move(entries);
      ++g_table_uploads;
    }
    if (!grads.empty() && (moved || !same_bytes(grads, host_grads_))) {
      upload(grads_, grads.data(), grads.size() * sizeof(const void*), device);
      host_grads_ = std::move(grads);
      ++g_grad_uploads;
    }
    device_ = device;
    chunks_ = has_rows ? chunks : 0;  // no rows: nothing to launch
  }
  const Entry* entries() const { return static_cast<const Entry*>(entries_.raw_data()); }
  const void* const* grads() const {
    return grads_.defined() ? static_cast<const void* const*>(grads_.raw_data()) : nullptr;
  }
  int count() const { return static_cast<int>(host_entries_.size()); }
  std::int64_t chunks() const { return chunks_; }
  int blocks() const {
    const std::int64_t most = static_cast<std::int64_t>(multiprocessor_count()) * 8;
    return static_cast<int>(chunks_ < most ? chunks_ : most);
  }

 private:
  int device_ = -1;
  std::int64_t chunks_ = 0;
  std::vector<Entry> host_entries_;
  std::vector<const void*> host_grads_;
  Tensor entries_, grads_;  // i64 words on the device
};

// Table rows for `params` (+ states), numbering chunks tensor after tensor; empty tensors are left out.
std::int64_t make_entries(const std::vector<Tensor>& params, const TensorLists* lists, std::vector<Entry>& entries,
                          std::vector<const void*>& grads) {
  std::int64_t step_base = 0, chunks = 0;
  if (lists)
    for (std::int64_t s : lists->steps) step_base = s > step_base ? s : step_base;
  for (std::size_t k = 0; k < params.size(); ++k) {
    const std::int64_t n = params[k].numel();
    if (n == 0) continue;
    Entry e{params[k].raw_data(), nullptr, nullptr, n, chunks, 0};
    if (lists) {
      if (!lists->m.empty()) e.m = lists->m[k].raw_data();
      if (!lists->v.empty()) e.v = lists->v[k].raw_data();
      e.step_lag = step_base - lists->steps[k];
      grads.push_back(lists->grads[k].raw_data());
    }
    entries.push_back(e);
    chunks += (n + kChunk - 1) / kChunk;
  }
  return chunks;
}

// The tables of the parameter lists seen last, most recent first. A list is known by its first tensor's storage and
// its length, which tell one optimizer's list from another's; the key only picks the tables to compare with, since
// sync() compares every byte: two lists that share a key are still updated correctly, they only upload more often.
class TableStore {
 public:
  // The tables for `lists`; hold lock() while using them.
  DeviceTables& tables_for(const TensorLists& lists) {
    const Key key{lists.params[0].raw_data(), lists.params.size()};
    for (auto it = slots_.begin(); it != slots_.end(); ++it) {
      if (it->key == key) {
        slots_.splice(slots_.begin(), slots_, it);
        return slots_.front().tables;
      }
    }
    if (slots_.size() == kMostLists) slots_.pop_back();  // device memory is freed in stream order: no wait
    slots_.push_front({key, {}});
    return slots_.front().tables;
  }
  std::unique_lock<std::mutex> lock() { return std::unique_lock<std::mutex>(mutex_); }

 private:
  static constexpr std::size_t kMostLists = 16;  // optimizers stepping in turn in one process (a few words each)
  struct Key {
    const void* first;
    std::size_t count;
    bool operator==(const Key&) const = default;
  };
  struct Slot {
    Key key;
    DeviceTables tables;
  };
  std::mutex mutex_;
  std::list<Slot> slots_;
};

// Prepares the tables for a step over `lists`; returns the step base (the largest step number).
std::int64_t prepare(DeviceTables& tables, const TensorLists& lists) {
  std::vector<Entry> entries;
  std::vector<const void*> grads;
  const std::int64_t chunks = make_entries(lists.params, &lists, entries, grads);
  std::int64_t step_base = 0;
  for (std::int64_t s : lists.steps) step_base = s > step_base ? s : step_base;
  tables.sync(lists.params[0].device().index, std::move(entries), std::move(grads), chunks);
  return step_base;
}

// The entry holding `chunk`: the last whose chunk_begin <= chunk.
__device__ int find_entry(const Entry* entries, int count, std::int64_t chunk) {
  int lo = 0, hi = count - 1;
  while (lo < hi) {
    const int mid = (lo + hi + 1) / 2;
    if (entries[mid].chunk_begin <= chunk) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  return lo;
}

// The element range [begin, end) of `chunk` inside its entry.
__device__ void chunk_range(const Entry& e, std::int64_t chunk, std::int64_t& begin, std::int64_t& end) {
  begin = (chunk - e.chunk_begin) * kChunk;
  end = begin + kChunk < e.numel ? begin + kChunk : e.numel;
}

template <class T>
__global__ void sgd_kernel(const Entry* entries, const void* const* grads, int count, std::int64_t chunks,
                           SgdHyper hyper, std::int64_t step_base) {
  const SgdScalars<T> s = sgd_scalars<T>(hyper);
  for (std::int64_t chunk = blockIdx.x; chunk < chunks; chunk += gridDim.x) {
    const int k = find_entry(entries, count, chunk);
    const Entry e = entries[k];
    T* p = static_cast<T*>(e.param);
    const T* g = static_cast<const T*>(grads[k]);
    T* buf = static_cast<T*>(e.m);
    const bool first = step_base - e.step_lag == 1;
    std::int64_t begin, end;
    chunk_range(e, chunk, begin, end);
    for (std::int64_t i = begin + threadIdx.x; i < end; i += blockDim.x)
      sgd_update(p[i], g[i], buf ? buf + i : nullptr, first, s);
  }
}

template <class T>
__global__ void adam_kernel(const Entry* entries, const void* const* grads, int count, std::int64_t chunks,
                            AdamHyper hyper, std::int64_t step_base) {
  for (std::int64_t chunk = blockIdx.x; chunk < chunks; chunk += gridDim.x) {
    const int k = find_entry(entries, count, chunk);
    const Entry e = entries[k];
    const AdamScalars<T> s = adam_scalars<T>(hyper, step_base - e.step_lag);  // bias corrections of this tensor
    T* p = static_cast<T*>(e.param);
    const T* g = static_cast<const T*>(grads[k]);
    T* m = static_cast<T*>(e.m);
    T* v = static_cast<T*>(e.v);
    std::int64_t begin, end;
    chunk_range(e, chunk, begin, end);
    for (std::int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) adam_update(p[i], g[i], m[i], v[i], s);
  }
}

__device__ double warp_sum(double v) {
  for (int offset = 16; offset > 0; offset /= 2) v += __shfl_down_sync(0xffffffffu, v, offset);
  return v;
}

// partials[chunk] = sum of x^2 over the chunk, in f64 (then summed by the backend's reduction: deterministic).
template <class T>
__global__ void sum_of_squares_kernel(const Entry* entries, int count, std::int64_t chunks, double* partials) {
  __shared__ double warp_sums[kThreads / 32];
  for (std::int64_t chunk = blockIdx.x; chunk < chunks; chunk += gridDim.x) {
    const Entry e = entries[find_entry(entries, count, chunk)];
    const T* x = static_cast<const T*>(e.param);
    std::int64_t begin, end;
    chunk_range(e, chunk, begin, end);
    double acc = 0;
    for (std::int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) {
      const double v = static_cast<double>(x[i]);
      acc += v * v;
    }
    acc = warp_sum(acc);
    if (threadIdx.x % 32 == 0) warp_sums[threadIdx.x / 32] = acc;
    __syncthreads();
    if (threadIdx.x < 32) {
      double v = threadIdx.x < blockDim.x / 32 ? warp_sums[threadIdx.x] : 0.0;
      v = warp_sum(v);
      if (threadIdx.x == 0) partials[chunk] = v;
    }
    __syncthreads();  // warp_sums is reused by the next chunk
  }
}

// x *= min(1, max_norm / (sqrt(total) + 1e-6)); a NaN total gives NaN, as PyTorch's clamp does.
template <class T>
__global__ void scale_kernel(const Entry* entries, int count, std::int64_t chunks, const double* total,
                             double max_norm) {
  const double ratio = max_norm / (sqrt(*total) + 1e-6);
  const T c = static_cast<T>(ratio > 1.0 ? 1.0 : ratio);
  for (std::int64_t chunk = blockIdx.x; chunk < chunks; chunk += gridDim.x) {
    const Entry e = entries[find_entry(entries, count, chunk)];
    T* x = static_cast<T*>(e.param);
    std::int64_t begin, end;
    chunk_range(e, chunk, begin, end);
    for (std::int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) x[i] = x[i] * c;
  }
}

class CudaOptimKernels final : public OptimKernels {
 public:
  void sgd_step(const TensorLists& lists, const SgdHyper& hyper) override {
    step(lists, "sgd step", [&](auto zero, const DeviceTables& tables, std::int64_t step_base) {
      sgd_kernel<decltype(zero)><<<tables.blocks(), kThreads, 0, current_stream()>>>(
          tables.entries(), tables.grads(), tables.count(), tables.chunks(), hyper, step_base);
    });
  }

  void adam_step(const TensorLists& lists, const AdamHyper& hyper) override {
    step(lists, "adam step", [&](auto zero, const DeviceTables& tables, std::int64_t step_base) {
      adam_kernel<decltype(zero)><<<tables.blocks(), kThreads, 0, current_stream()>>>(
          tables.entries(), tables.grads(), tables.count(), tables.chunks(), hyper, step_base);
    });
  }

  void sum_of_squares(const std::vector<Tensor>& tensors, Tensor& total) override {
    DeviceGuard guard(total.device().index);
    DeviceTables tables;
    std::vector<Entry> entries;
    std::vector<const void*> unused;
    const std::int64_t chunks = make_entries(tensors, nullptr, entries, unused);
    backend(total.device()).fill(total, 0.0);
    if (chunks == 0) return;
    tables.sync(total.device().index, std::move(entries), {}, chunks);
    Tensor partials = empty({chunks}, {.dtype = DType::f64, .device = total.device()});
    dispatch_floating(tensors[0].dtype(), "clip_grad_norm", [&](auto zero) {
      using T = decltype(zero);
      sum_of_squares_kernel<T><<<tables.blocks(), kThreads, 0, current_stream()>>>(tables.entries(), tables.count(),
                                                                                   chunks, partials.data<double>());
    });
    EDAT_CUDA_CHECK_LAUNCH();
    backend(total.device()).sum_dim(partials, total, {1, chunks, 1});
  }

  void scale_by_norm(const std::vector<Tensor>& tensors, const Tensor& total, double max_norm) override {
    DeviceGuard guard(total.device().index);
    DeviceTables tables;
    std::vector<Entry> entries;
    std::vector<const void*> unused;
    const std::int64_t chunks = make_entries(tensors, nullptr, entries, unused);
    if (chunks == 0) return;
    tables.sync(total.device().index, std::move(entries), {}, chunks);
    dispatch_floating(tensors[0].dtype(), "clip_grad_norm", [&](auto zero) {
      using T = decltype(zero);
      scale_kernel<T><<<tables.blocks(), kThreads, 0, current_stream()>>>(tables.entries(), tables.count(), chunks,
                                                                          total.data<double>(), max_norm);
    });
    EDAT_CUDA_CHECK_LAUNCH();
  }

  KernelStats stats() const override { return {g_launches, g_table_uploads, g_grad_uploads}; }

 private:
  // One optimizer step over `lists`: the tables brought up to date, then launch(zero of the element type, tables,
  // step base) once.
  template <class Launch>
  void step(const TensorLists& lists, const char* what, Launch launch) {
    if (lists.params.empty()) return;
    DeviceGuard guard(lists.params[0].device().index);
    const auto lock = store_.lock();
    DeviceTables& tables = store_.tables_for(lists);
    const std::int64_t step_base = prepare(tables, lists);
    if (tables.chunks() == 0) return;
    dispatch_floating(lists.params[0].dtype(), what, [&](auto zero) { launch(zero, tables, step_base); });
    EDAT_CUDA_CHECK_LAUNCH();
    ++g_launches;
  }

  TableStore store_;
};

}  // namespace

OptimKernels& cuda_optim_kernels() {
  static CudaOptimKernels kernels;
  return kernels;
}

}  // namespace edat::optim::cuda_impl
