// The ages of the faces in one image, for predict_age and serve_age: decode, optionally detect every face and crop it
// as crop_faces crops training data, run the network on all crops at once, clamp into the model's age range.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
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
  int width = 0, height = 0;   // the image as decoded: the frame of the boxes (a large JPEG may decode smaller)
  // Why, for callers that answer each differently (serve_age: 400, an empty list, 500). bad_image: not decodable
  // (data::DecodeError) or refused by a check on the image (an edat::Error: too large to resize, ...); internal:
  // anything else (out of memory).
  enum class Failure { none, bad_image, no_face, internal };
  Failure failure = Failure::none;
};

// {"box": [x, y, w, h] or null, "score": 1.52 or null, "age": 34.2} (and "clamped_from" when clamped), rounded to
// print short: predict_age --json and serve_age's answers.
nlohmann::ordered_json to_json(const FaceAge& face);

struct FaceAgeOptions {
  bool detect_face = false;
  double margin = data::kDefaultMargin;
  int upsample = data::kDefaultUpsample;
  bool align = false;  // aligned chips (data/faces/face_aligner.h) of the detected faces, not box crops
  std::string landmarks = data::kDefaultLandmarks;
  double chip_padding = data::kDefaultChipPadding;
  bool tta_flip = false;                               // each age the mean of the crop's and its mirror image's
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
  // Another estimator for another thread: it shares this one's network (read-only) and landmark model (thread-safe)
  // and has a face detector of its own (dlib's is not thread-safe). Estimators of one network may run at once.
  FaceAgeEstimator(const FaceAgeEstimator& other);
  FaceAgeEstimator& operator=(const FaceAgeEstimator&) = delete;
  ~FaceAgeEstimator();

  // Never throw for a bad image: its problem is in the result's error. `name` names the image in messages.
  ImageAges estimate(const std::string& path);
  ImageAges estimate(const std::uint8_t* data, std::size_t size, const std::string& name);

  const train::ModelDescription& description() const;
  std::pair<double, double> age_range() const { return description().age_range(); }
  const FaceAgeOptions& options() const;  // as used: detect_face is set with align

 private:
  // What every copy shares: the network and how its input is made.
  struct Network;
  std::vector<data::Image> face_crops(const std::uint8_t* data, std::size_t size, const std::string& name,
                                      ImageAges& result) const;

  std::shared_ptr<Network> network_;
#ifdef EDAT_WITH_FACES  // a build without dlib has no FaceDetector to link
  std::unique_ptr<data::FaceDetector> detector_;
#endif
};

}  // namespace edat::apps
