// The ages of the faces in one image file, for predict_age: decode, optionally detect every face and crop it as
// crop_faces crops training data, run the network on all crops at once, clamp into the model's age range.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "data/faces/face_crop.h"
#include "data/faces/face_detector.h"
#include "data/transforms.h"
#include "train/objective.h"

namespace edat::apps {

struct FaceAge {
  std::optional<data::FaceBox> box;  // none when no detection was made (the whole image was the face)
  double age = 0;                    // clamped into the model's age range
  double raw_age = 0;                // as the network gave it
};

struct ImageAges {
  std::string image;
  std::vector<FaceAge> faces;  // most confident first
  std::string error;           // non-empty: the image failed (unreadable, no face found) and has no faces
};

struct FaceAgeOptions {
  bool detect_face = false;
  double margin = data::kDefaultMargin;
  int upsample = data::kDefaultUpsample;
};

class FaceAgeEstimator {
 public:
  // Loads the face detector only with detect_face (an edat::Error when the build has none).
  FaceAgeEstimator(train::AgeModel model, Device device, const FaceAgeOptions& options);
  ~FaceAgeEstimator();

  // Never throws for a bad image: its problem is in the result's error.
  ImageAges estimate(const std::string& path);
  std::pair<double, double> age_range() const { return objective_.description().age_range(); }

 private:
  std::vector<data::Image> face_crops(const std::string& path, ImageAges& result) const;

  train::AgeModel model_;
  Device device_;
  FaceAgeOptions options_;
  train::AgeObjective objective_;
  data::Compose transforms_;
#ifdef EDAT_WITH_FACES  // a build without dlib has no FaceDetector to link
  std::unique_ptr<data::FaceDetector> detector_;
#endif
};

}  // namespace edat::apps
