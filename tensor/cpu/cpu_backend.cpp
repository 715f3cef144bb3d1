// CPU backend: memory, copies, dtype conversion, fills and random fills.
#include "tensor/cpu/cpu_backend.h"

#include <cstdlib>
#include <cstring>

#include "tensor/random.h"

namespace edat::cpu_impl {

Backend& cpu_backend() {
  static CpuBackend instance;
  return instance;
}

std::shared_ptr<Storage> CpuBackend::allocate(std::size_t nbytes, Device device, bool pinned) {
  EDAT_CHECK(device.is_cpu() && !pinned, "cpu backend: cannot allocate on " << device.str()
                                                                            << (pinned ? " (pinned)" : ""));
  // 64-byte alignment for vector loads; aligned_alloc wants a multiple of the alignment.
  const std::size_t rounded = (nbytes + 63) / 64 * 64 + (nbytes == 0 ? 64 : 0);
  void* data = std::aligned_alloc(64, rounded);
  EDAT_CHECK(data != nullptr, "out of host memory: tried to allocate " << nbytes << " bytes");
  return std::make_shared<Storage>(data, nbytes, device, false, [](void* p) { std::free(p); });
}

void CpuBackend::copy(const Tensor& src, Tensor& dst) {
  EDAT_CHECK(src.device().is_cpu() && dst.device().is_cpu(),
             "cpu backend: copy from " << src.desc() << " to " << dst.desc() << " needs the CUDA backend");
  std::memcpy(dst.raw_data(), src.raw_data(), src.nbytes());
}

namespace {

// Reads element i of any dtype as double / writes a double into any dtype (conversions and fills).
double load(const void* p, DType dtype, std::int64_t i) {
  switch (dtype) {
    case DType::f32: return static_cast<const float*>(p)[i];
    case DType::f64: return static_cast<const double*>(p)[i];
    case DType::bf16: return static_cast<const bf16*>(p)[i].to_float();
    case DType::i64: return static_cast<double>(static_cast<const std::int64_t*>(p)[i]);
  }
  return 0;
}

void store(void* p, DType dtype, std::int64_t i, double value) {
  switch (dtype) {
    case DType::f32: static_cast<float*>(p)[i] = static_cast<float>(value); return;
    case DType::f64: static_cast<double*>(p)[i] = value; return;
    case DType::bf16: static_cast<bf16*>(p)[i] = bf16::from_float(static_cast<float>(value)); return;
    case DType::i64: static_cast<std::int64_t*>(p)[i] = static_cast<std::int64_t>(value); return;
  }
}

// out[i] = value_at(i) for every element, in parallel.
template <class F> void generate(Tensor& out, F value_at) {
  void* p = out.raw_data();
  const DType dtype = out.dtype();
  const std::int64_t n = out.numel();
#pragma omp parallel for schedule(static) if (n > kParallelGrain)
  for (std::int64_t i = 0; i < n; ++i) store(p, dtype, i, value_at(i));
}

}  // namespace

void CpuBackend::convert(const Tensor& src, Tensor& dst) {
  const void* s = src.raw_data();
  const DType sd = src.dtype();
  generate(dst, [s, sd](std::int64_t i) { return load(s, sd, i); });
}

void CpuBackend::fill(Tensor& out, double value) {
  generate(out, [value](std::int64_t) { return value; });
}

void CpuBackend::arange(Tensor& out, double start, double step) {
  generate(out, [start, step](std::int64_t i) { return start + static_cast<double>(i) * step; });
}

void CpuBackend::uniform(Tensor& out, std::uint64_t seed, std::uint64_t first, double low, double high) {
  generate(out, [=](std::int64_t i) {
    return Generator::uniform_at(seed, first, static_cast<std::uint64_t>(i), low, high);
  });
}

void CpuBackend::normal(Tensor& out, std::uint64_t seed, std::uint64_t first, double mean, double std) {
  generate(out, [=](std::int64_t i) {
    return Generator::normal_at(seed, first, static_cast<std::uint64_t>(i), mean, std);
  });
}

}  // namespace edat::cpu_impl
