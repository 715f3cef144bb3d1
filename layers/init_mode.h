// Init mode: whether layers draw their initial weights. Per thread, like grad mode. A network whose every tensor is
// about to be read from a file (predict_age, evaluate_age) is built under a SkipInitGuard: drawing millions of random
// numbers only to overwrite them would be most of its start-up time.
#pragma once

#include "tensor/random.h"
#include "tensor/tensor.h"

namespace edat::nn {

bool is_init_enabled();

// RAII: layers built while this guard lives get uninitialised tensors (batch-norm constants are still set).
class SkipInitGuard {
 public:
  SkipInitGuard();
  ~SkipInitGuard();
  SkipInitGuard(const SkipInitGuard&) = delete;
  SkipInitGuard& operator=(const SkipInitGuard&) = delete;

 private:
  bool previous_;
};

// U(low, high) drawn from the generator; uninitialised (and no draw) under a SkipInitGuard.
Tensor init_uniform(const Shape& shape, double low, double high, Generator& generator);

}  // namespace edat::nn
