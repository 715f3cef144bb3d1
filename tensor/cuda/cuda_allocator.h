// Caching allocators for device memory and pinned (page-locked) host memory.
//
// cudaMalloc and cudaFree are slow and synchronise the device, so freed blocks are kept in free lists, one per size
// class, and handed out again: once the cache is warm a training step makes no cudaMalloc/cudaFree call.
// Size classes: multiples of 512 B up to 1 MiB; above that 8 classes per power of two (so a block wastes < 12.5%).
//
// Reuse is safe because all work is queued on one stream (current_stream()): a block freed while kernels that read
// it are still queued can only be handed to work queued after them. Pinned blocks are different, the host writes
// them directly: every asynchronous copy from one notes the device it was queued on (note_pinned_use), and when the
// block is freed an event is recorded on the stream of each such device (not of the freeing thread's current
// device, which may be another one); the block is reused only once those events have completed.
//
// The allocators are leaked singletons: they outlive every Storage, even ones destroyed during static destruction.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "tensor/backend.h"
#include "tensor/storage.h"

namespace edat::cuda_impl {

// The bytes actually reserved for a request of `nbytes` (its size class).
std::size_t round_to_size_class(std::size_t nbytes);

// Device memory of cuda:`device_index`; the Storage returns its block to the cache when destroyed.
std::shared_ptr<Storage> allocate_device(std::size_t nbytes, int device_index);
// Page-locked host memory (a CPU Storage with pinned() set).
std::shared_ptr<Storage> allocate_pinned(std::size_t nbytes);
// Work reading or writing pinned `storage` was queued on cuda:`device_index`'s stream: its reuse waits for it.
void note_pinned_use(const Storage& storage, int device_index);
// Bit d set: cuda:d has work queued on pinned `storage` since it was allocated (for tests).
std::uint64_t pinned_devices_used(const Storage& storage);

MemoryStats device_memory_stats(int device_index);
void reset_device_peak(int device_index);
// Frees every cached, unused block (device blocks of every device, then pinned blocks whose events completed).
void empty_all_caches();
// cudaDeviceSynchronize on every device that has allocated memory through edat.
void synchronize_used_devices();

// A scratch buffer on the current device for one op (e.g. partial sums), returned to the cache on scope exit.
// Safe to drop right after queuing the kernels that use it: later users are queued after them on the same stream.
class DeviceBuffer {
 public:
  DeviceBuffer(std::size_t nbytes, int device_index) : storage_(allocate_device(nbytes, device_index)) {}
  void* data() const { return storage_->data(); }
  template <class T>
  T* as() const {
    return static_cast<T*>(storage_->data());
  }

 private:
  std::shared_ptr<Storage> storage_;
};

}  // namespace edat::cuda_impl
