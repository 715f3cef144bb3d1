// Helpers shared by the op files: operand checks and output allocation.
#pragma once

#include "autograd/grad_mode.h"
#include "autograd/node.h"
#include "autograd/ops.h"
#include "tensor/backend.h"
#include "tensor/factory.h"

namespace edat::ops_detail {

using autograd::record;
using Grads = std::vector<Tensor>;

inline void check_defined(const char* op, const Tensor& x) {
  EDAT_CHECK(x.defined(), op << ": an operand is an undefined tensor");
}

// Both operands defined, floating, and on the same dtype and device; the message names both.
inline void check_pair(const char* op, const Tensor& a, const Tensor& b) {
  check_defined(op, a);
  check_defined(op, b);
  EDAT_CHECK(a.dtype() == b.dtype(), op << ": dtype mismatch: " << a.desc() << " vs " << b.desc());
  EDAT_CHECK(a.device() == b.device(), op << ": device mismatch: " << a.desc() << " vs " << b.desc());
  EDAT_CHECK(is_floating(a.dtype()), op << ": needs floating-point operands, got " << a.desc());
}

inline void check_floating(const char* op, const Tensor& x) {
  check_defined(op, x);
  EDAT_CHECK(is_floating(x.dtype()), op << ": needs a floating-point operand, got " << x.desc());
}

inline Tensor new_like(const Tensor& like, const Shape& shape) {
  return empty(shape, {.dtype = like.dtype(), .device = like.device()});
}

}  // namespace edat::ops_detail
