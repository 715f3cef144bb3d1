// Pieces the whole-image decoder (decode.cpp, TurboJPEG) and the box decoder (decode_box.cpp, libjpeg) share.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "data/decode.h"

namespace edat::data::detail {

// Throws DecodeError("cannot decode image NAME: WHY").
[[noreturn]] void fail(const std::string& name, const std::string& why);
// Refuses an empty size or one of more than options.max_pixels pixels.
void check_size(std::int64_t width, std::int64_t height, const DecodeOptions& options, const std::string& name);
// Picks the strongest of libjpeg-turbo's scaling factors 1/2, 1/4, 1/8 that keeps the image at least as large as
// options.min_width x min_height, or a stronger one when that is still above options.max_pixels. A scaled
// dimension is ceil(dim * num / denom) (TJSCALED).
JpegInfo choose_scale(int width, int height, const DecodeOptions& options);
// choose_scale for a JPEG header's size; refuses an empty size, or one above the limit even at 1/8.
JpegInfo checked_jpeg_scale(std::int64_t width, std::int64_t height, const DecodeOptions& options,
                            const std::string& name);
// libjpeg's inverted CMYK (4 bytes per pixel) to RGB.
void cmyk_to_rgb(const std::uint8_t* cmyk, std::size_t pixels, std::uint8_t* rgb);

}  // namespace edat::data::detail
