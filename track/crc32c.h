// CRC-32C (Castagnoli), the checksum of TFRecord framing (TensorBoard event files), and TFRecord's masked form.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace edat::track {

// CRC-32C of `size` bytes (reflected polynomial 0x82F63B78, initial value and final xor 0xFFFFFFFF, as RFC 3720).
// crc32c("123456789") == 0xE3069283. Debian packages no C/C++ CRC-32C library, hence this table-driven one.
// `previous` continues a checksum over more data: crc32c(b, n, crc32c(a, m)) is the CRC of a then b.
std::uint32_t crc32c(const void* data, std::size_t size, std::uint32_t previous = 0);
inline std::uint32_t crc32c(std::string_view bytes) { return crc32c(bytes.data(), bytes.size()); }

// TFRecord stores CRCs masked, because a CRC of data that itself holds CRCs is weak:
// rotate right by 15 bits and add 0xa282ead8.
constexpr std::uint32_t mask_crc(std::uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xa282ead8u; }
constexpr std::uint32_t unmask_crc(std::uint32_t masked) {
  const std::uint32_t rotated = masked - 0xa282ead8u;
  return (rotated >> 17) | (rotated << 15);
}

}  // namespace edat::track
