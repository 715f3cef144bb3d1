// libFuzzer target for the image decoders (data/decode.cpp: TurboJPEG and stb_image; data/decode_box.cpp:
// libjpeg's API). Any input must either decode to a consistent Image or throw DecodeError; anything else (a crash,
// a sanitizer report, another exception, a leak) is a bug. ctest runs it for a few seconds from the fixture images
// (tests/CMakeLists.txt, fuzz_decode).
#include <algorithm>
#include <cstdint>
#include <cstdlib>

#include "data/decode.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace edat::data;
  // Keep the images small enough for the sanitizers' memory limit; the last byte picks a DCT scaling target so
  // the scaled decoding paths are fuzzed too.
  DecodeOptions options;
  options.max_pixels = std::int64_t{1} << 22;
  if (size > 0) options.min_width = options.min_height = data[size - 1] % 64;
  for (bool accept_warnings : {false, true}) {
    options.accept_jpeg_warnings = accept_warnings;
    try {
      const Image image = decode_image(data, size, options, "<fuzz>");
      const auto expected = static_cast<std::size_t>(image.width) * image.height * 3;
      if (image.width <= 0 || image.height <= 0 || image.pixels.size() != expected) std::abort();
    } catch (const DecodeError&) {
      // a clean refusal
    }
    try {  // the box decoder (libjpeg's API), on the middle half of the image
      const Image part = decode_image_box(
          data, size,
          [](int w, int h) {
            return std::optional<Box>(Box{h / 4, w / 4, std::max(h / 2, 1), std::max(w / 2, 1)});
          },
          options, "<fuzz>");
      if (part.pixels.size() != static_cast<std::size_t>(part.width) * part.height * 3) std::abort();
    } catch (const DecodeError&) {
    }
  }
  return 0;
}
