// The ages of the faces in one image file, for predict_age: decode, optionally detect every face and crop it as
// crop_faces crops training data, run the network on all crops at once, clamp into the model's age range.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "data/decode.h"
#include "data/face_crop_record.h"
#include "data/faces/face_aligner.h"
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
  bool align = false;  // aligned chips (data/faces/face_aligner.h) of the detected faces, not box crops
  std::string landmarks = data::kDefaultLandmarks;
  double chip_padding = data::kDefaultChipPadding;
  bool tta_flip = false;  // each age the mean of the crop's and its mirror image's
  std::int64_t max_pixels = data::default_max_pixels;  // larger images are refused (JPEGs decode smaller to fit)
};

// The crop these options make (none without detection), and options that make the crop a record says: predict_age
// crops photos as the model's training images were cropped (edat.face_crop) unless told otherwise.
data::FaceCropRecord crop_record(const FaceAgeOptions& options);
void crop_as(const data::FaceCropRecord& record, FaceAgeOptions& options);

class FaceAgeEstimator {
 public:
  // Loads the face detector only with detect_face, the landmark model only with align (which implies detect_face);
  // an edat::Error when the build has no dlib.
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
  std::unique_ptr<data::FaceAligner> aligner_;
#endif
};

}  // namespace edat::apps
