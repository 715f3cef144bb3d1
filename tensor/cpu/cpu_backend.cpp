// CPU backend: memory, copies, dtype conversion, fills and random fills.
#include "tensor/cpu/cpu_backend.h"

#include <cstdlib>
#include <cstring>
#include <type_traits>

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

// Conversions through double, for every dtype (bf16 rounds to nearest even).
template <class T> T from_double(double v) {
  if constexpr (std::is_same_v<T, bf16>) {
    return bf16::from_float(static_cast<float>(v));
  } else {
    return static_cast<T>(v);
  }
}
template <class T> double to_double(T v) {
  if constexpr (std::is_same_v<T, bf16>) {
    return v.to_float();
  } else {
    return static_cast<double>(v);
  }
}

// Runs f(T{}) with T the C++ type of any dtype.
template <class F> void dispatch_any(DType dtype, F&& f) {
  switch (dtype) {
    case DType::f32: f(float{}); return;
    case DType::f64: f(double{}); return;
    case DType::bf16: f(bf16{}); return;
    case DType::i64: f(std::int64_t{}); return;
  }
}

// out[i] = value_at(i) converted to out's dtype, for every element, in parallel.
template <class F> void generate(Tensor& out, F value_at) {
  dispatch_any(out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* p = static_cast<T*>(out.raw_data());
    const std::int64_t n = out.numel();
#pragma omp parallel for schedule(static) if (n > kParallelGrain)
    for (std::int64_t i = 0; i < n; ++i) p[i] = from_double<T>(value_at(i));
  });
}

}  // namespace

void CpuBackend::convert(const Tensor& src, Tensor& dst) {
  dispatch_any(src.dtype(), [&](auto tag) {
    using S = decltype(tag);
    const S* s = static_cast<const S*>(src.raw_data());
    generate(dst, [s](std::int64_t i) { return to_double(s[i]); });
  });
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
