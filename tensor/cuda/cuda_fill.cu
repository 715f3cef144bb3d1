// Kernels that write values: fill, arange, the random fills of random.h, and dtype conversion.
//
// Each value is computed in double exactly as the CPU computes it, then cast to the element type like the CPU's
// static_cast (bf16: double -> float -> bf16, rounding to nearest even as dtype.h does); conversions go through
// double as on the CPU. The random fills must match the CPU bit for bit, so the double expressions of random.h are
// written here with __dadd_rn/__dmul_rn: nvcc would otherwise contract a + b * c into one fused multiply-add,
// which rounds once instead of twice. (The CPU side must not contract them either: build with -ffp-contract=off.)
#include <cstdint>

#include "tensor/cuda/cuda_check.h"
#include "tensor/cuda/cuda_kernels.h"
#include "tensor/cuda/grid_stride.cuh"
#include "tensor/random.h"

namespace edat::cuda_impl {

namespace {

// A bf16 element in device code: the upper 16 bits of an IEEE f32 (the layout of edat::bf16).
struct Bf16Bits {
  std::uint16_t bits;
};

// f32 -> bf16, round to nearest, ties to even; NaN stays a (quiet) NaN. The same bit recipe as bf16::from_float.
__device__ inline Bf16Bits float_to_bf16(float value) {
  const std::uint32_t u = __float_as_uint(value);
  if ((u & 0x7fffffffu) > 0x7f800000u) return {static_cast<std::uint16_t>((u >> 16) | 0x40u)};
  return {static_cast<std::uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16)};
}
__device__ inline float bf16_to_float(Bf16Bits value) {
  return __uint_as_float(static_cast<std::uint32_t>(value.bits) << 16);
}

// The CPU converts every element through double (load as double, then static_cast to the target; bf16 via
// float), so i64 -> f32 is (float)(double)v here too.
template <class Src>
__device__ double to_double(Src value) {
  return static_cast<double>(value);
}
template <>
__device__ double to_double(Bf16Bits value) {
  return static_cast<double>(bf16_to_float(value));
}

template <class Dst>
__device__ Dst from_double(double value) {
  return static_cast<Dst>(value);
}
template <>
__device__ Bf16Bits from_double(double value) {
  return float_to_bf16(static_cast<float>(value));
}

// Calls f(T{}) with the device storage type of `dtype`.
template <class F>
void dispatch_any(DType dtype, F&& f) {
  switch (dtype) {
    case DType::f32:
      f(float{});
      return;
    case DType::f64:
      f(double{});
      return;
    case DType::bf16:
      f(Bf16Bits{});
      return;
    case DType::i64:
      f(std::int64_t{});
      return;
  }
  throw Error("unknown dtype on CUDA");
}

// out[i] = value (cast per element: cheap, and keeps the bf16 rounding in one place)
template <class T>
__global__ void fill_kernel(T* out, std::int64_t n, double value) {
  const T cast = from_double<T>(value);
  for (std::int64_t i = first_index(); i < n; i += grid_stride()) out[i] = cast;
}

// out[i] = start + i * step
template <class T>
__global__ void arange_kernel(T* out, std::int64_t n, double start, double step) {
  for (std::int64_t i = first_index(); i < n; i += grid_stride()) {
    out[i] = from_double<T>(__dadd_rn(start, __dmul_rn(static_cast<double>(i), step)));
  }
}

// out[i] = low + (high - low) * unit(first + i)   (Generator::uniform_at)
template <class T>
__global__ void uniform_kernel(T* out, std::int64_t n, std::uint64_t seed, std::uint64_t first, double low,
                               double high) {
  for (std::int64_t i = first_index(); i < n; i += grid_stride()) {
    const double unit = Generator::unit(seed, first + static_cast<std::uint64_t>(i));
    out[i] = from_double<T>(__dadd_rn(low, __dmul_rn(__dsub_rn(high, low), unit)));
  }
}

// Box-Muller (Generator::normal_at): u1 = 1 - unit(first + 2i), u2 = unit(first + 2i + 1),
// out[i] = mean + stddev * sqrt(-2 ln u1) * cos(2 pi u2)
template <class T>
__global__ void normal_kernel(T* out, std::int64_t n, std::uint64_t seed, std::uint64_t first, double mean,
                              double stddev) {
  for (std::int64_t i = first_index(); i < n; i += grid_stride()) {
    const std::uint64_t position = first + 2 * static_cast<std::uint64_t>(i);
    const double u1 = __dsub_rn(1.0, Generator::unit(seed, position));
    const double u2 = Generator::unit(seed, position + 1);
    const double radius = sqrt(__dmul_rn(-2.0, log(u1)));
    const double angle = __dmul_rn(6.283185307179586, u2);
    out[i] = from_double<T>(__dadd_rn(mean, __dmul_rn(__dmul_rn(stddev, radius), cos(angle))));
  }
}

template <class Src, class Dst>
__global__ void convert_kernel(const Src* src, Dst* dst, std::int64_t n) {
  for (std::int64_t i = first_index(); i < n; i += grid_stride()) dst[i] = from_double<Dst>(to_double(src[i]));
}

}  // namespace

void fill(Tensor& out, double value) {
  const std::int64_t n = out.numel();
  if (n == 0) return;
  dispatch_any(out.dtype(), [&](auto zero) {
    using T = decltype(zero);
    fill_kernel<T><<<grid_size(n), kThreadsPerBlock, 0, current_stream()>>>(static_cast<T*>(out.raw_data()), n, value);
  });
  EDAT_CUDA_CHECK_LAUNCH();
}

void arange(Tensor& out, double start, double step) {
  const std::int64_t n = out.numel();
  if (n == 0) return;
  dispatch_any(out.dtype(), [&](auto zero) {
    using T = decltype(zero);
    arange_kernel<T>
        <<<grid_size(n), kThreadsPerBlock, 0, current_stream()>>>(static_cast<T*>(out.raw_data()), n, start, step);
  });
  EDAT_CUDA_CHECK_LAUNCH();
}

void uniform(Tensor& out, std::uint64_t seed, std::uint64_t first, double low, double high) {
  const std::int64_t n = out.numel();
  if (n == 0) return;
  dispatch_any(out.dtype(), [&](auto zero) {
    using T = decltype(zero);
    uniform_kernel<T><<<grid_size(n), kThreadsPerBlock, 0, current_stream()>>>(static_cast<T*>(out.raw_data()), n, seed,
                                                                               first, low, high);
  });
  EDAT_CUDA_CHECK_LAUNCH();
}

void normal(Tensor& out, std::uint64_t seed, std::uint64_t first, double mean, double std) {
  const std::int64_t n = out.numel();
  if (n == 0) return;
  dispatch_any(out.dtype(), [&](auto zero) {
    using T = decltype(zero);
    normal_kernel<T><<<grid_size(n), kThreadsPerBlock, 0, current_stream()>>>(static_cast<T*>(out.raw_data()), n, seed,
                                                                              first, mean, std);
  });
  EDAT_CUDA_CHECK_LAUNCH();
}

void convert(const Tensor& src, Tensor& dst) {
  const std::int64_t n = dst.numel();
  if (n == 0) return;
  if (src.dtype() == dst.dtype()) {
    if (src.raw_data() != dst.raw_data()) {
      EDAT_CUDA_CHECK(
          cudaMemcpyAsync(dst.raw_data(), src.raw_data(), dst.nbytes(), cudaMemcpyDeviceToDevice, current_stream()));
    }
    return;
  }
  dispatch_any(src.dtype(), [&](auto src_zero) {
    using Src = decltype(src_zero);
    dispatch_any(dst.dtype(), [&](auto dst_zero) {
      using Dst = decltype(dst_zero);
      convert_kernel<Src, Dst><<<grid_size(n), kThreadsPerBlock, 0, current_stream()>>>(
          static_cast<const Src*>(src.raw_data()), static_cast<Dst*>(dst.raw_data()), n);
    });
  });
  EDAT_CUDA_CHECK_LAUNCH();
}

}  // namespace edat::cuda_impl
