// Image decoding: JPEG through libjpeg-turbo (its TurboJPEG API for whole images, its libjpeg API for boxes), PNG,
// BMP and GIF (first frame) through stb_image.
// Every decoder returns an RGB Image (data/image.h): grayscale, gray+alpha, RGBA and CMYK sources become RGB
// (alpha is dropped). The format comes from the file's first bytes, never from its name.
//
// JPEGs can be decoded smaller than stored, for free: libjpeg-turbo scales in the DCT domain by 1/2, 1/4 or 1/8.
// Give the size the image will be resized to next (min_width/min_height) and the decoder picks the strongest of
// those factors that keeps the decoded image at least that large; a target more than half the source decodes at
// full size.
//
// JPEGs can also be decoded in part: decode_image_box asks the caller which box it needs once the size is known,
// and libjpeg-turbo then decodes only the rows and columns around that box (a 120 px crop of a 200 px face in about
// half the time of the whole image). The pixels are exactly those of the box in the whole decoded image.
//
// Failures throw DecodeError naming the file (or "<memory>") and why: empty, truncated, not an image, too large.
// The decoders are thread-safe (each thread keeps its own TurboJPEG handle).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "data/image.h"
#include "tensor/error.h"

namespace edat::data {

// A file that is not a readable image (the loader counts and skips these). Other problems throw edat::Error.
class DecodeError : public Error {
 public:
  using Error::Error;
};

// 2^26 pixels (8192 x 8192, 192 MiB of RGB): far above any face photo, far below what a header can claim.
// (data/transforms.h's max_resize_pixels is the same number for resize outputs.)
inline constexpr std::int64_t default_max_pixels = std::int64_t{1} << 26;
// stb_image's own limit on a side; a PNG or BMP beyond it is refused as too large.
inline constexpr std::int64_t max_side = std::int64_t{1} << 24;

struct DecodeOptions {
  // DCT-domain downscaling of JPEGs: the decoded image is at least this large (0 = no constraint, full size).
  int min_width = 0;
  int min_height = 0;
  // Refuse images with more decoded pixels than this (a 783 KB PNG can claim 16384 x 16384: 805 MB of RGB, and a
  // few GB in the transforms). A larger JPEG decodes at the weakest DCT scale (1/2 .. 1/8) under the limit instead.
  std::int64_t max_pixels = default_max_pixels;
  // libjpeg warnings (data ends early, corrupt entropy data) make the image an error unless this is set; a
  // truncated JPEG would otherwise decode with its missing rows grey.
  bool accept_jpeg_warnings = false;
  // Nearest-neighbour chroma upsampling for 4:2:x JPEGs (libjpeg's merged upsampler): about 25% faster decoding,
  // but no longer pixel-identical to PIL/torchvision, whose default is the smooth ("fancy") upsampling.
  bool fast_upsampling = false;
};

enum class ImageFormat { unknown, jpeg, png, bmp, gif, other };
// The format from the first bytes (other: not one edat decodes).
ImageFormat sniff_format(const std::uint8_t* data, std::size_t size);

// Decodes an encoded image held in memory; `name` is used in error messages.
Image decode_image(const std::uint8_t* data, std::size_t size, const DecodeOptions& options = {},
                   const std::string& name = "<memory>");
Image decode_image(const std::vector<std::uint8_t>& bytes, const DecodeOptions& options = {},
                   const std::string& name = "<memory>");
// Reads and decodes a file.
Image decode_image_file(const std::string& path, const DecodeOptions& options = {});

// The box of an image of this (decoded) size that the caller needs, or nullopt for the whole image. It must lie
// inside the image.
using BoxChooser = std::function<std::optional<Box>(int width, int height)>;
// Decodes the box `choose` names, equal to crop(decode_image(...), box) pixel for pixel. For a JPEG only the rows
// down to the box's last one are read and only the columns around it converted (libjpeg's jpeg_skip_scanlines /
// jpeg_crop_scanline); other formats decode whole, then are cropped. A truncated JPEG is refused wherever it ends
// (its end-of-image marker is missing), but corrupt data below the box goes unseen: that part is never decoded.
Image decode_image_box(const std::uint8_t* data, std::size_t size, const BoxChooser& choose,
                       const DecodeOptions& options = {}, const std::string& name = "<memory>");
Image decode_image_file_box(const std::string& path, const BoxChooser& choose, const DecodeOptions& options = {});

// The whole file as bytes; throws DecodeError when it cannot be opened or read.
std::vector<std::uint8_t> read_file_bytes(const std::string& path);

// The scaled size libjpeg-turbo would decode (width, height) to for these options, from the JPEG header alone.
struct JpegInfo {
  int width = 0, height = 0;  // as stored
  int scaled_width = 0, scaled_height = 0;
  int scale_denominator = 1;  // 1, 2, 4 or 8
};
JpegInfo jpeg_info(const std::uint8_t* data, std::size_t size, const DecodeOptions& options = {},
                   const std::string& name = "<memory>");

}  // namespace edat::data
