// Image: a decoded picture as 8-bit RGB, interleaved (HWC), rows top to bottom. Every decoder (data/decode.h)
// returns one and every transform (data/transforms.h) takes and returns one; only normalisation leaves this type,
// producing a float CHW tensor.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace edat::data {

struct Image {
  int width = 0;
  int height = 0;
  static constexpr int channels = 3;  // always RGB: grayscale, RGBA and CMYK sources are converted on decode
  std::vector<std::uint8_t> pixels;   // height * width * 3 bytes: pixel (y, x) channel c at (y * width + x) * 3 + c

  Image() = default;
  Image(int w, int h) : width(w), height(h), pixels(static_cast<std::size_t>(w) * h * 3) {}

  bool empty() const { return width == 0 || height == 0; }
  std::size_t size_bytes() const { return pixels.size(); }
  std::uint8_t* row(int y) { return pixels.data() + static_cast<std::size_t>(y) * width * 3; }
  const std::uint8_t* row(int y) const { return pixels.data() + static_cast<std::size_t>(y) * width * 3; }
  std::uint8_t& at(int y, int x, int c) { return pixels[(static_cast<std::size_t>(y) * width + x) * 3 + c]; }
  std::uint8_t at(int y, int x, int c) const { return pixels[(static_cast<std::size_t>(y) * width + x) * 3 + c]; }
};

// A rectangle of an image: rows top .. top + height - 1, columns left .. left + width - 1.
struct Box {
  int top = 0, left = 0, height = 0, width = 0;
  bool operator==(const Box&) const = default;
};

}  // namespace edat::data
