// FaceAligner over dlib: shape_predictor for the 5 landmarks, get_face_chip_details + extract_image_chip for the chip.
#include "data/faces/face_aligner.h"

#include <dlib/image_processing/shape_predictor.h>
#include <dlib/image_transforms.h>
#include <dlib/serialize.h>

#include <filesystem>

#include "data/faces/dlib_image.h"
#include "tensor/error.h"

namespace edat::data {

struct FaceAligner::Impl {
  dlib::shape_predictor landmarks;
};

FaceAligner::FaceAligner(const std::string& landmarks_path) : impl_(std::make_unique<Impl>()) {
  EDAT_CHECK(std::filesystem::exists(landmarks_path),
             "face alignment: no landmark model at '" << landmarks_path
                                                      << "' (scripts/get_pretrained.sh installs "
                                                         "shape_predictor_5_face_landmarks.dat)");
  try {
    dlib::deserialize(landmarks_path) >> impl_->landmarks;
  } catch (const std::exception& e) {  // dlib::serialization_error
    throw Error("face alignment: '" + landmarks_path + "' is not a dlib shape predictor: " + e.what());
  }
  EDAT_CHECK(impl_->landmarks.num_parts() == 5 || impl_->landmarks.num_parts() == 68,
             "face alignment: '" << landmarks_path << "' predicts " << impl_->landmarks.num_parts()
                                 << " landmarks; dlib's chips need 5 or 68");
}

FaceAligner::~FaceAligner() = default;

Image FaceAligner::align(const Image& image, const FaceBox& box, int size, double padding) const {
  EDAT_CHECK(!image.empty() && box.width > 0 && box.height > 0 && size > 0 && padding >= 0,
             "FaceAligner::align: needs an image, a non-empty box, size > 0 and padding >= 0");
  const dlib::array2d<dlib::rgb_pixel> pixels = to_dlib(image);
  const dlib::rectangle rect(box.left, box.top, box.left + box.width - 1, box.top + box.height - 1);
  const dlib::full_object_detection shape = impl_->landmarks(pixels, rect);
  dlib::array2d<dlib::rgb_pixel> chip;
  dlib::extract_image_chip(pixels, dlib::get_face_chip_details(shape, size, padding), chip);
  Image out(size, size);
  for (int y = 0; y < size; ++y) {
    std::uint8_t* row = out.row(y);
    for (int x = 0; x < size; ++x) {
      row[3 * x] = chip[y][x].red, row[3 * x + 1] = chip[y][x].green, row[3 * x + 2] = chip[y][x].blue;
    }
  }
  return out;
}

}  // namespace edat::data
