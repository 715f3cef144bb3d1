// Image encoding, for tools that write images (crop_faces, make_demo_faces, tests): JPEG through TurboJPEG, PNG and
// BMP through stb_image_write. edat_data compiles stb_image and stb_image_write's implementations (data/stb.cpp):
// link edat_data and include <stb_image.h> / <stb_image_write.h> without defining STB_*_IMPLEMENTATION.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/image.h"

namespace edat::data {

// JPEG with 4:2:0 chroma subsampling (4:4:4 when `subsample_chroma` is false); quality 1..100.
std::vector<std::uint8_t> encode_jpeg(const Image& image, int quality = 90, bool subsample_chroma = true);
std::vector<std::uint8_t> encode_png(const Image& image);

// Writes by extension: .jpg/.jpeg, .png or .bmp (case-insensitive); throws edat::Error naming the file on failure.
void write_image(const std::string& path, const Image& image, int jpeg_quality = 90);
void write_file_bytes(const std::string& path, const std::vector<std::uint8_t>& bytes);

}  // namespace edat::data
