#include "tensor/factory.h"

#include <cmath>

#include "tensor/backend.h"

namespace edat {

Tensor empty(const Shape& shape, const Options& options) {
  for (std::int64_t size : shape) EDAT_CHECK(size >= 0, "empty: negative size in shape " << shape_str(shape));
  EDAT_CHECK(!options.pinned || options.device.is_cpu(), "empty: pinned memory is host memory; device "
                                                             << options.device.str() << " was requested");
  const std::size_t nbytes = static_cast<std::size_t>(numel(shape)) * element_size(options.dtype);
  // Pinned host memory comes from the CUDA backend (cudaHostAlloc); plain host memory from the CPU backend.
  Backend& allocator = options.pinned ? backend(Device::cuda(0)) : backend(options.device);
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = allocator.allocate(nbytes, options.device, options.pinned);
  impl->shape = shape;
  impl->dtype = options.dtype;
  Tensor tensor(std::move(impl));
  if (options.requires_grad) tensor.set_requires_grad(true);
  return tensor;
}

Tensor full(const Shape& shape, double value, const Options& options) {
  Tensor out = empty(shape, {.dtype = options.dtype, .device = options.device, .pinned = options.pinned});
  backend(options.device).fill(out, value);
  if (options.requires_grad) out.set_requires_grad(true);
  return out;
}

Tensor zeros(const Shape& shape, const Options& options) { return full(shape, 0.0, options); }
Tensor ones(const Shape& shape, const Options& options) { return full(shape, 1.0, options); }
Tensor empty_like(const Tensor& like) { return empty(like.shape(), {.dtype = like.dtype(), .device = like.device()}); }
Tensor zeros_like(const Tensor& like) { return zeros(like.shape(), {.dtype = like.dtype(), .device = like.device()}); }
Tensor ones_like(const Tensor& like) { return ones(like.shape(), {.dtype = like.dtype(), .device = like.device()}); }
Tensor scalar_tensor(double value, const Options& options) { return full({}, value, options); }

Tensor arange(double start, double end, double step, const Options& options) {
  EDAT_CHECK(step != 0 && std::isfinite(step), "arange: step must be finite and non-zero, got " << step);
  EDAT_CHECK((end - start) / step >= 0, "arange: step " << step << " moves away from end " << end
                                                         << " starting at " << start);
  const auto count = static_cast<std::int64_t>(std::ceil((end - start) / step));
  Tensor out = empty({count}, {.dtype = options.dtype, .device = options.device});
  backend(options.device).arange(out, start, step);
  if (options.requires_grad) out.set_requires_grad(true);
  return out;
}

Tensor from_vector(const std::vector<double>& values, const Shape& shape, const Options& options) {
  EDAT_CHECK(numel(shape) == static_cast<std::int64_t>(values.size()),
             "from_vector: " << values.size() << " values do not fill shape " << shape_str(shape));
  Tensor host = empty(shape, {.dtype = DType::f64});
  std::copy(values.begin(), values.end(), host.data<double>());
  Tensor out = host.to(options.dtype).to(options.device);
  if (options.requires_grad) out.set_requires_grad(true);
  return out;
}

Tensor from_vector(const std::vector<double>& values, const Options& options) {
  return from_vector(values, {static_cast<std::int64_t>(values.size())}, options);
}

Tensor uniform(const Shape& shape, double low, double high, Generator& generator, const Options& options) {
  EDAT_CHECK(low <= high, "uniform: low " << low << " is above high " << high);
  Tensor out = empty(shape, {.dtype = options.dtype, .device = options.device});
  const std::uint64_t first = generator.advance(static_cast<std::uint64_t>(out.numel()));
  backend(options.device).uniform(out, generator.seed(), first, low, high);
  if (options.requires_grad) out.set_requires_grad(true);
  return out;
}

Tensor normal(const Shape& shape, double mean, double std, Generator& generator, const Options& options) {
  EDAT_CHECK(std >= 0, "normal: std must be >= 0, got " << std);
  Tensor out = empty(shape, {.dtype = options.dtype, .device = options.device});
  const std::uint64_t first = generator.advance(2 * static_cast<std::uint64_t>(out.numel()));
  backend(options.device).normal(out, generator.seed(), first, mean, std);
  if (options.requires_grad) out.set_requires_grad(true);
  return out;
}

}  // namespace edat
