// The command-line flags predict_age and serve_age share: which model (the shipped one by default), how faces are
// found and cut out (as the model's training images were, unless told otherwise), test-time augmentation and the
// image size limit; and the estimator they make.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "apps/face_ages.h"

namespace edat::apps {

struct FaceAgeFlags {
  std::string weights_path;  // default: the shipped model (apps/project_files.h)
  std::string arch, device_name = "cpu";
  std::int64_t img_size = 0;
  FaceAgeOptions options;
  // The mean of each face's and its mirror image's age: 0.04 years better for twice the network time
  // (docs/model_card.md).
  std::string tta = "flip";
  bool whole_image = false;
};

// Adds --weights, --arch, --img-size, --device, --detect-face, --margin, --upsample, --align, --whole-image,
// --landmarks, --chip-padding, --tta and --max-pixels, with their defaults, to `app`.
void add_face_age_flags(CLI::App& app, FaceAgeFlags& flags);

// Loads the model the parsed flags name and makes its estimator, cutting faces as the model's training images were
// (its edat.face_crop) unless a crop flag was given. What the user should know goes into `warnings`: another crop
// than the trained one, another input size, no face check. Throws edat::Error (weights unreadable, no such device).
std::unique_ptr<FaceAgeEstimator> load_estimator(const CLI::App& app, FaceAgeFlags& flags,
                                                 std::vector<std::string>& warnings);

}  // namespace edat::apps
