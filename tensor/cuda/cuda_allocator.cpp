// The caching device and pinned-host allocators (see cuda_allocator.h for the scheme).
#include "tensor/cuda/cuda_allocator.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "tensor/cuda/cuda_backend.h"
#include "tensor/cuda/cuda_check.h"

namespace edat::cuda_impl {

namespace {

constexpr std::size_t kSmallStep = 512;
constexpr std::size_t kSmallLimit = std::size_t{1} << 20;  // 1 MiB
constexpr int kMaxDevices = 64;

std::string mib(std::size_t bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.2f", static_cast<double>(bytes) / (1024.0 * 1024.0));
  return text;
}

// ---- device memory ----

class DeviceAllocator {
 public:
  explicit DeviceAllocator(int device) : device_(device) {}

  void* allocate(std::size_t size) {  // size: already a size class
    std::lock_guard<std::mutex> lock(mutex_);
    void* block = nullptr;
    auto cached = free_blocks_.find(size);
    if (cached != free_blocks_.end() && !cached->second.empty()) {
      block = cached->second.back();
      cached->second.pop_back();
      stats_.bytes_cached -= size;
      ++stats_.cache_hits;
    } else {
      block = device_malloc_locked(size);
      ++stats_.device_allocations;
    }
    ++stats_.allocations;
    stats_.bytes_in_use += size;
    stats_.peak_bytes_in_use = std::max(stats_.peak_bytes_in_use, stats_.bytes_in_use);
    return block;
  }

  // Called by Storage deleters, so it must not throw: no CUDA call, the block just goes to its free list.
  void release(void* block, std::size_t size) noexcept {
    std::lock_guard<std::mutex> lock(mutex_);
    stats_.bytes_in_use -= size;
    try {
      free_blocks_[size].push_back(block);
      stats_.bytes_cached += size;
    } catch (...) {
      // Out of host memory for the free list: the block is leaked rather than risk freeing it under running work.
    }
  }

  MemoryStats stats() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return stats_;
  }
  void reset_peak() {
    std::lock_guard<std::mutex> lock(mutex_);
    stats_.peak_bytes_in_use = stats_.bytes_in_use;
  }
  void empty_cache() {
    std::lock_guard<std::mutex> lock(mutex_);
    free_cached_locked();
  }
  void synchronize() {
    DeviceGuard guard(device_);
    EDAT_CUDA_CHECK(cudaDeviceSynchronize());
  }

 private:
  void* device_malloc_locked(std::size_t size) {
    DeviceGuard guard(device_);
    void* block = nullptr;
    cudaError_t error = cudaMalloc(&block, size);
    if (error == cudaErrorMemoryAllocation) {
      // Out of memory: give every cached block back to the driver and try once more.
      (void)cudaGetLastError();
      free_cached_locked();
      error = cudaMalloc(&block, size);
    }
    if (error == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();
      std::string message = "CUDA out of memory on cuda:" + std::to_string(device_) + ": tried to allocate " +
                            mib(size) + " MiB; in use " + mib(stats_.bytes_in_use) + " MiB, cached " +
                            mib(stats_.bytes_cached) + " MiB, peak " + mib(stats_.peak_bytes_in_use) + " MiB";
      std::size_t free_bytes = 0, total_bytes = 0;
      if (cudaMemGetInfo(&free_bytes, &total_bytes) == cudaSuccess) {
        message += " (the device has " + mib(free_bytes) + " MiB free of " + mib(total_bytes) + " MiB)";
      } else {
        (void)cudaGetLastError();
      }
      throw Error(message);
    }
    if (error != cudaSuccess) throw_cuda_error(error, "cudaMalloc", __FILE__, __LINE__);
    return block;
  }

  void free_cached_locked() {
    DeviceGuard guard(device_);
    for (auto& [size, blocks] : free_blocks_) {
      while (!blocks.empty()) {
        void* block = blocks.back();
        blocks.pop_back();
        stats_.bytes_cached -= size;
        EDAT_CUDA_CHECK(cudaFree(block));
      }
    }
  }

  const int device_;
  mutable std::mutex mutex_;
  std::unordered_map<std::size_t, std::vector<void*>> free_blocks_;  // size class -> cached blocks
  MemoryStats stats_;
};

// One allocator per device, created on first use and never destroyed.
struct DeviceAllocators {
  std::mutex mutex;
  std::array<DeviceAllocator*, kMaxDevices> by_index{};
};

DeviceAllocators& device_allocators() {
  static auto* allocators = new DeviceAllocators;
  return *allocators;
}

// The allocator of cuda:`index`, or nullptr when it has not been created yet and `create` is false.
DeviceAllocator* device_allocator(int index, bool create) {
  const int count = device_count_or_zero();
  EDAT_CHECK(index >= 0 && index < count && index < kMaxDevices,
             "cuda:" << index << " does not exist (this machine has " << count << " CUDA devices)");
  DeviceAllocators& allocators = device_allocators();
  std::lock_guard<std::mutex> lock(allocators.mutex);
  DeviceAllocator*& allocator = allocators.by_index[static_cast<std::size_t>(index)];
  if (allocator == nullptr && create) allocator = new DeviceAllocator(index);
  return allocator;
}

std::vector<DeviceAllocator*> created_device_allocators() {
  DeviceAllocators& allocators = device_allocators();
  std::lock_guard<std::mutex> lock(allocators.mutex);
  std::vector<DeviceAllocator*> created;
  for (DeviceAllocator* allocator : allocators.by_index) {
    if (allocator != nullptr) created.push_back(allocator);
  }
  return created;
}

// ---- pinned host memory ----

class PinnedAllocator {
 public:
  void* allocate(std::size_t size) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto cached = free_blocks_.find(size);
    if (cached != free_blocks_.end()) {
      std::vector<Block>& blocks = cached->second;
      for (std::size_t k = 0; k < blocks.size(); ++k) {
        if (!all_completed(blocks[k].events)) continue;
        Block block = std::move(blocks[k]);
        blocks.erase(blocks.begin() + static_cast<std::ptrdiff_t>(k));
        recycle_events_locked(block.events);
        return block.data;
      }
    }
    void* data = nullptr;
    cudaError_t error = cudaHostAlloc(&data, size, cudaHostAllocPortable);
    if (error == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();
      free_cached_locked();
      error = cudaHostAlloc(&data, size, cudaHostAllocPortable);
    }
    if (error == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();
      throw Error("CUDA out of memory: tried to allocate " + mib(size) + " MiB of pinned host memory");
    }
    if (error != cudaSuccess) throw_cuda_error(error, "cudaHostAlloc", __FILE__, __LINE__);
    return data;
  }

  // Work touching the block was queued on cuda:`device`'s stream (an asynchronous copy from it).
  void note_use(void* block, int device) {
    if (device < 0 || device >= kMaxDevices) return;
    std::lock_guard<std::mutex> lock(mutex_);
    devices_used_[block] |= std::uint64_t{1} << device;
  }

  std::uint64_t devices_used(const void* block) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto found = devices_used_.find(const_cast<void*>(block));
    return found == devices_used_.end() ? 0 : found->second;
  }

  // Records an event on the stream of each device whose work used the block (not on whatever device is current on
  // the freeing thread: a copy to cuda:1 is not ordered by cuda:0's stream), so the block is reused only once that
  // work has finished. A block no device used is free at once. Must not throw: on any CUDA failure it waits for
  // the device, or leaks the block.
  void release(void* data, std::size_t size) noexcept {
    std::lock_guard<std::mutex> lock(mutex_);
    try {
      std::uint64_t used = 0;
      if (auto found = devices_used_.find(data); found != devices_used_.end()) {
        used = found->second;
        devices_used_.erase(found);
      }
      Block block{data, {}};
      for (int device = 0; used != 0; ++device, used >>= 1) {
        if ((used & 1) == 0) continue;
        if (!record_on_device_locked(device, block.events)) {
          recycle_events_locked(block.events);
          return;  // cannot tell when the block is free (e.g. the runtime is shutting down): leak it
        }
      }
      free_blocks_[size].push_back(std::move(block));
    } catch (...) {
      // Out of host memory for the bookkeeping: leak the block.
    }
  }

  // Waits for each cached block's events, then returns it to the driver.
  void empty_cache() {
    std::lock_guard<std::mutex> lock(mutex_);
    free_cached_locked();
  }

 private:
  struct DeviceEvent {
    int device = 0;
    cudaEvent_t event = nullptr;
  };
  struct Block {
    void* data = nullptr;
    std::vector<DeviceEvent> events;  // recorded when the block was freed, one per device that used it
  };

  static bool all_completed(const std::vector<DeviceEvent>& events) {
    for (const DeviceEvent& e : events) {
      const cudaError_t status = cudaEventQuery(e.event);
      if (status == cudaSuccess) continue;
      if (status == cudaErrorNotReady) {
        (void)cudaGetLastError();  // "not ready" is not an error: do not leave it for the next launch check
        return false;
      }
      throw_cuda_error(status, "cudaEventQuery", __FILE__, __LINE__);
    }
    return true;
  }

  // Records an event of `device` on that device's current_stream() into `events`; if that fails, waits for the
  // device instead (no event needed then). False when even that fails.
  bool record_on_device_locked(int device, std::vector<DeviceEvent>& events) noexcept {
    int previous = 0;
    if (cudaGetDevice(&previous) != cudaSuccess || cudaSetDevice(device) != cudaSuccess) {
      (void)cudaGetLastError();
      return false;
    }
    bool ok = true;
    cudaEvent_t event = take_event_locked(device);  // events belong to the device current when created
    if (event != nullptr && cudaEventRecord(event, current_stream()) == cudaSuccess) {
      events.push_back({device, event});
    } else {
      (void)cudaGetLastError();
      if (event != nullptr) spare_events_[device].push_back(event);
      if (cudaStreamSynchronize(current_stream()) != cudaSuccess) {
        (void)cudaGetLastError();
        ok = false;
      }
    }
    (void)cudaSetDevice(previous);
    return ok;
  }

  // An unused event of the current device `device`, or nullptr when none can be created.
  cudaEvent_t take_event_locked(int device) {
    std::vector<cudaEvent_t>& spare = spare_events_[device];
    if (!spare.empty()) {
      cudaEvent_t event = spare.back();
      spare.pop_back();
      return event;
    }
    cudaEvent_t event = nullptr;
    if (cudaEventCreateWithFlags(&event, cudaEventDisableTiming) != cudaSuccess) {
      (void)cudaGetLastError();
      return nullptr;
    }
    return event;
  }

  void recycle_events_locked(const std::vector<DeviceEvent>& events) {
    for (const DeviceEvent& e : events) spare_events_[e.device].push_back(e.event);
  }

  void free_cached_locked() {
    for (auto& [size, blocks] : free_blocks_) {
      while (!blocks.empty()) {
        Block block = std::move(blocks.back());
        blocks.pop_back();
        recycle_events_locked(block.events);
        for (const DeviceEvent& e : block.events) EDAT_CUDA_CHECK(cudaEventSynchronize(e.event));
        EDAT_CUDA_CHECK(cudaFreeHost(block.data));
      }
    }
  }

  std::mutex mutex_;
  std::unordered_map<std::size_t, std::vector<Block>> free_blocks_;   // size class -> cached blocks
  std::unordered_map<void*, std::uint64_t> devices_used_;             // live block -> bit d: used on cuda:d
  std::unordered_map<int, std::vector<cudaEvent_t>> spare_events_;   // device -> its events not in use
};

PinnedAllocator& pinned_allocator() {
  static auto* allocator = new PinnedAllocator;
  return *allocator;
}

}  // namespace

std::size_t round_to_size_class(std::size_t nbytes) {
  if (nbytes <= kSmallLimit)
    return std::max<std::size_t>(kSmallStep, (nbytes + kSmallStep - 1) / kSmallStep * kSmallStep);
  if (nbytes > (std::size_t{1} << 62)) return nbytes;  // absurd: leave it to cudaMalloc to refuse
  // nbytes in (2^k, 2^(k+1)]: round up to a multiple of 2^k / 8.
  const int k = static_cast<int>(std::bit_width(nbytes - 1)) - 1;
  const std::size_t step = std::size_t{1} << (k - 3);
  return (nbytes + step - 1) / step * step;
}

std::shared_ptr<Storage> allocate_device(std::size_t nbytes, int device_index) {
  DeviceAllocator* allocator = device_allocator(device_index, true);
  if (nbytes == 0) return std::make_shared<Storage>(nullptr, 0, Device::cuda(device_index), false, nullptr);
  const std::size_t size = round_to_size_class(nbytes);
  void* data = allocator->allocate(size);
  return std::make_shared<Storage>(data, nbytes, Device::cuda(device_index), false,
                                   [allocator, size](void* block) { allocator->release(block, size); });
}

void note_pinned_use(const Storage& storage, int device_index) {
  if (storage.pinned() && storage.data() != nullptr) pinned_allocator().note_use(storage.data(), device_index);
}

std::uint64_t pinned_devices_used(const Storage& storage) { return pinned_allocator().devices_used(storage.data()); }

std::shared_ptr<Storage> allocate_pinned(std::size_t nbytes) {
  if (nbytes == 0) return std::make_shared<Storage>(nullptr, 0, Device::cpu(), true, nullptr);
  const std::size_t size = round_to_size_class(nbytes);
  void* data = pinned_allocator().allocate(size);
  return std::make_shared<Storage>(data, nbytes, Device::cpu(), true,
                                   [size](void* block) { pinned_allocator().release(block, size); });
}

MemoryStats device_memory_stats(int device_index) {
  DeviceAllocator* allocator = device_allocator(device_index, false);
  return allocator != nullptr ? allocator->stats() : MemoryStats{};
}

void reset_device_peak(int device_index) {
  if (DeviceAllocator* allocator = device_allocator(device_index, false)) allocator->reset_peak();
}

void empty_all_caches() {
  for (DeviceAllocator* allocator : created_device_allocators()) allocator->empty_cache();
  pinned_allocator().empty_cache();
}

void synchronize_used_devices() {
  for (DeviceAllocator* allocator : created_device_allocators()) allocator->synchronize();
}

}  // namespace edat::cuda_impl
