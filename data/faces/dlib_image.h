// An edat RGB image as dlib's image type (face_detector.cpp, face_aligner.cpp; dlib is private to edat_faces).
#pragma once

#include <dlib/array2d.h>
#include <dlib/pixel.h>

#include "data/image.h"

namespace edat::data {

inline dlib::array2d<dlib::rgb_pixel> to_dlib(const Image& image) {
  dlib::array2d<dlib::rgb_pixel> pixels(image.height, image.width);
  for (int y = 0; y < image.height; ++y) {
    const std::uint8_t* row = image.row(y);
    for (int x = 0; x < image.width; ++x) pixels[y][x] = dlib::rgb_pixel(row[3 * x], row[3 * x + 1], row[3 * x + 2]);
  }
  return pixels;
}

}  // namespace edat::data
