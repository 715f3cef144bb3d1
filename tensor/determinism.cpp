#include "tensor/determinism.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

namespace edat {

namespace {

std::atomic<bool>& flag() {
  static std::atomic<bool> on = [] {
    const char* value = std::getenv("EDAT_DETERMINISTIC");
    return value != nullptr && std::strcmp(value, "1") == 0;
  }();
  return on;
}

}  // namespace

bool deterministic() { return flag().load(std::memory_order_relaxed); }
void set_deterministic(bool on) { flag().store(on, std::memory_order_relaxed); }

}  // namespace edat
