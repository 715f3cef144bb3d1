// Creating tensors: empty, zeros, ones, full, arange, from a vector, and seeded random uniform/normal.
#pragma once

#include <cstdint>
#include <vector>

#include "tensor/random.h"
#include "tensor/tensor.h"

namespace edat {

// How a new tensor is made. Designated initialisers read well: zeros({2, 3}, {.dtype = DType::f64}).
struct Options {
  DType dtype = DType::f32;
  Device device = Device::cpu();
  bool requires_grad = false;
  bool pinned = false;  // page-locked host memory for fast, asynchronous copies to a GPU (CPU only)
};

Tensor empty(const Shape& shape, const Options& options = {});  // uninitialised
Tensor zeros(const Shape& shape, const Options& options = {});
Tensor ones(const Shape& shape, const Options& options = {});
Tensor full(const Shape& shape, double value, const Options& options = {});
Tensor zeros_like(const Tensor& like);  // same shape, dtype and device
Tensor ones_like(const Tensor& like);
Tensor empty_like(const Tensor& like);
// start, start + step, ... while < end (> end for a negative step), as a 1-D tensor.
Tensor arange(double start, double end, double step = 1.0, const Options& options = {});
// A tensor holding `values` in row-major order; the shape defaults to 1-D.
Tensor from_vector(const std::vector<double>& values, const Shape& shape, const Options& options = {});
Tensor from_vector(const std::vector<double>& values, const Options& options = {});
Tensor scalar_tensor(double value, const Options& options = {});  // 0-dim

// Random tensors drawn from `generator` (see random.h): the same seed gives the same values on every device.
Tensor uniform(const Shape& shape, double low, double high, Generator& generator, const Options& options = {});
Tensor normal(const Shape& shape, double mean, double std, Generator& generator, const Options& options = {});

}  // namespace edat
