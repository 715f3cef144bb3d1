// Aligned face chips: dlib's 5-point landmark model (shape_predictor_5_face_landmarks.dat, CC0, installed by
// scripts/get_pretrained.sh) finds the eyes and nose of a detected face, and dlib's get_face_chip_details /
// extract_image_chip cut a square chip with the eyes level and at a fixed place and scale (dlib's and
// face_recognition's alignment), so training crops (crop_faces --align) and prediction crops (predict_age --align)
// are made the same way.
#pragma once

#include <memory>
#include <string>

#include "data/faces/face_detector.h"
#include "data/image.h"

namespace edat::data {

// Where get_pretrained.sh puts the landmark model, relative to the repository root (the apps' default).
inline constexpr const char* kDefaultLandmarks = "pretrained/shape_predictor_5_face_landmarks.dat";
// dlib's get_face_chip_details default: the share of the chip's side added around the landmarks' face.
inline constexpr double kDefaultChipPadding = 0.2;

class FaceAligner {
 public:
  // Reads the landmark model; edat::Error naming the file (and get_pretrained.sh) when it is missing or not one.
  explicit FaceAligner(const std::string& landmarks_path);
  ~FaceAligner();
  FaceAligner(const FaceAligner&) = delete;
  FaceAligner& operator=(const FaceAligner&) = delete;

  // The size x size chip of the face in `box` (a detector box of `image`), padding as dlib's get_face_chip_details.
  // Safe to call from several threads at once.
  Image align(const Image& image, const FaceBox& box, int size, double padding) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace edat::data
