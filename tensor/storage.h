// A reference-counted block of memory on one device. Tensors share Storage through std::shared_ptr;
// views (reshape, flatten, detach) share it too. The bytes go back to their allocator when the last owner drops it.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>

#include "tensor/device.h"

namespace edat {

class Storage {
 public:
  using Deleter = std::function<void(void*)>;

  Storage(void* data, std::size_t nbytes, Device device, bool pinned, Deleter deleter)
      : data_(data), nbytes_(nbytes), device_(device), pinned_(pinned), deleter_(std::move(deleter)) {}
  ~Storage() {
    if (deleter_) deleter_(data_);
  }
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  std::size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }
  bool pinned() const { return pinned_; }  // page-locked host memory (CPU storage only)

 private:
  void* data_;
  std::size_t nbytes_;
  Device device_;
  bool pinned_;
  Deleter deleter_;
};

}  // namespace edat
