// libFuzzer target for the image decoders (data/decode.cpp: TurboJPEG and stb_image). Any input must either decode
// to a consistent Image or throw DecodeError; anything else (a crash, a sanitizer report, another exception, a
// leak) is a bug. ctest runs it for a few seconds from the fixture images (tests/CMakeLists.txt, fuzz_decode).
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
  }
  return 0;
}
