// Element types: f32 everywhere, f64 on the CPU (gradient checks), bf16 reserved for CUDA mixed precision,
// i64 for indices (argmax) and integer tensors read from weight files.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

namespace edat {

enum class DType : std::uint8_t { f32, f64, bf16, i64 };

constexpr std::size_t element_size(DType dtype) {
  switch (dtype) {
    case DType::f32: return 4;
    case DType::f64: return 8;
    case DType::bf16: return 2;
    case DType::i64: return 8;
  }
  return 0;
}

constexpr const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::f32: return "f32";
    case DType::f64: return "f64";
    case DType::bf16: return "bf16";
    case DType::i64: return "i64";
  }
  return "?";
}

constexpr bool is_floating(DType dtype) { return dtype != DType::i64; }

// bfloat16: the upper 16 bits of an IEEE f32. Conversion from f32 rounds to nearest, ties to even; NaN stays NaN.
struct bf16 {
  std::uint16_t bits = 0;

  static bf16 from_float(float value) {
    std::uint32_t u;
    std::memcpy(&u, &value, 4);
    bf16 out;
    if ((u & 0x7fffffffu) > 0x7f800000u) {
      out.bits = static_cast<std::uint16_t>((u >> 16) | 0x40u);  // quiet NaN
    } else {
      out.bits = static_cast<std::uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
    }
    return out;
  }
  float to_float() const {
    std::uint32_t u = static_cast<std::uint32_t>(bits) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  }
};

// C++ type of each dtype, for kernels: ScalarOf<DType::f32> is float.
template <DType D> struct ScalarTypeOf;
template <> struct ScalarTypeOf<DType::f32> { using type = float; };
template <> struct ScalarTypeOf<DType::f64> { using type = double; };
template <> struct ScalarTypeOf<DType::bf16> { using type = bf16; };
template <> struct ScalarTypeOf<DType::i64> { using type = std::int64_t; };

template <class T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::f32; }
template <> constexpr DType dtype_of<double>() { return DType::f64; }
template <> constexpr DType dtype_of<bf16>() { return DType::bf16; }
template <> constexpr DType dtype_of<std::int64_t>() { return DType::i64; }

}  // namespace edat
