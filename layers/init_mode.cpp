#include "layers/init_mode.h"

#include "tensor/factory.h"

namespace edat::nn {

namespace {
thread_local bool init_enabled = true;
}  // namespace

bool is_init_enabled() { return init_enabled; }

SkipInitGuard::SkipInitGuard() : previous_(init_enabled) { init_enabled = false; }
SkipInitGuard::~SkipInitGuard() { init_enabled = previous_; }

Tensor init_uniform(const Shape& shape, double low, double high, Generator& generator) {
  return init_enabled ? uniform(shape, low, high, generator) : empty(shape);
}

}  // namespace edat::nn
