// Face detection with dlib's HOG frontal face detector (the one dlib's face_detection_ex and Python's
// dlib.get_frontal_face_detector() give): upright, roughly frontal faces of at least 80x80 pixels, or 40x40 after
// one upsampling (which costs about 4x the time).
#pragma once

#include <memory>
#include <vector>

#include "data/image.h"

namespace edat::data {

struct FaceBox {
  int left = 0, top = 0, width = 0, height = 0;  // in the image's pixels
  double score = 0;                              // the detector's confidence (higher is surer)
};

// Intersection over union of two boxes (0 when either is empty).
double iou(const FaceBox& a, const FaceBox& b);

// How many times the image is doubled before detection, for crop_faces and predict_age alike (--upsample): once
// finds faces down to 40 px (the smaller faces of group photos and datasets) at 4x the time of none (80 px).
inline constexpr int kDefaultUpsample = 1;
inline constexpr int kMaxUpsample = 3;

class FaceDetector {
 public:
  // upsample: 0 .. kMaxUpsample (0 or 1 are the useful values).
  explicit FaceDetector(int upsample = kDefaultUpsample);
  FaceDetector(const FaceDetector& other);  // a copy shares nothing: one detector per thread
  ~FaceDetector();
  FaceDetector& operator=(const FaceDetector&) = delete;

  // The faces in `image`, most confident first. Not safe to call on one detector from several threads at once.
  // When none is found, the image is searched once more with its edges extended by kEdgeExtension of its longer side
  // (copies of the edge pixels): a face that fills its image, as in a tight face crop, is found then; its box may
  // reach outside the image.
  std::vector<FaceBox> detect(const Image& image) const;
  static constexpr double kEdgeExtension = 0.25;
  int upsample() const { return upsample_; }

 private:
  std::vector<FaceBox> detect_in(const Image& image, int offset) const;  // boxes moved by -offset
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int upsample_;
};

}  // namespace edat::data
