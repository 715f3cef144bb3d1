#include "apps/face_age_flags.h"

#include <filesystem>

#include "apps/project_files.h"
#include "tensor/error.h"
#include "train/objective.h"

namespace edat::apps {

void add_face_age_flags(CLI::App& app, FaceAgeFlags& flags) {
  flags.weights_path = project_file(kShippedModel);
  flags.options.landmarks = project_file(data::kDefaultLandmarks);
  FaceAgeOptions& options = flags.options;
  app.add_option("--weights", flags.weights_path,
                 "weights written by train_resnet (best.safetensors, final.safetensors); default: the shipped model")
      ->capture_default_str();
  app.add_option("--arch", flags.arch, "architecture (default: the one recorded in the weights file)");
  app.add_option("--img-size", flags.img_size,
                 "input size (default: the one recorded in the weights file; another warns)");
  app.add_option("--device", flags.device_name, "cpu or cuda")->capture_default_str();
  app.add_flag("--detect-face", options.detect_face,
               "find every face (dlib) and give each its age (default: crop as the model's training images were, "
               "edat.face_crop: none, box or aligned)");
  app.add_option("--margin", options.margin, "--detect-face: margin around the face box, as a share of its side")
      ->capture_default_str();
  app.add_option("--upsample", options.upsample,
                 "--detect-face: image doublings before detection (1 finds faces "
                 "from 40 px, 0 from 80 px, 4x faster)")
      ->capture_default_str()
      ->check(CLI::Range(0, data::kMaxUpsample));
  auto* align_flag = app.add_flag("--align", options.align,
                                  "detect every face and cut aligned chips (eyes level, fixed scale: dlib's "
                                  "get_face_chip_details), as crop_faces --align");
  app.add_flag("--whole-image", flags.whole_image,
               "each image is already one face crop: no detection (for a model trained on detected faces, crop the "
               "images as its training images were)")
      ->excludes(align_flag)
      ->excludes("--detect-face");
  app.add_option("--landmarks", options.landmarks, "--align: dlib's shape_predictor_5_face_landmarks.dat")
      ->capture_default_str();
  app.add_option("--chip-padding", options.chip_padding, "--align: padding around the face, as dlib's")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 4.0));
  app.add_option("--tta", flags.tta,
                 "test-time augmentation: flip (the mean of each crop's and its mirror's age), or none")
      ->capture_default_str()
      ->check(CLI::IsMember({"none", "flip"}));
  app.add_option("--max-pixels", options.max_pixels,
                 "refuse images with more pixels (JPEGs first decode smaller to fit)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
}

std::unique_ptr<FaceAgeEstimator> load_estimator(const CLI::App& app, FaceAgeFlags& flags,
                                                 std::vector<std::string>& warnings) {
  FaceAgeOptions& options = flags.options;
  options.tta_flip = flags.tta == "flip";
  EDAT_CHECK(app.count("--weights") || std::filesystem::exists(flags.weights_path),
             "the shipped model " << flags.weights_path
                                  << " is missing (it comes with edat's source tree; "
                                     "scripts/train_release_model.sh makes it again): give --weights");
  train::AgeModel age_model = train::load_age_model(flags.weights_path, flags.arch, flags.img_size);
  warnings.insert(warnings.end(), age_model.warnings.begin(), age_model.warnings.end());
  // Crop photos as the training images were cropped, unless told how; say so when told otherwise.
  const data::FaceCropRecord trained =
      data::FaceCropRecord::parse(age_model.description.face_crop, flags.weights_path + " edat.face_crop");
  if (app.count("--detect-face") + app.count("--align") + app.count("--whole-image") == 0) {
    const FaceAgeOptions given = options;
    crop_as(trained, options);
    if (app.count("--margin")) options.margin = given.margin;
    if (app.count("--chip-padding")) options.chip_padding = given.chip_padding;
  }
  if (trained.method != data::FaceCropRecord::Method::none && crop_record(options) != trained) {
    warnings.push_back("the model was trained on '" + trained.text() + "' crops, these are '" +
                       crop_record(options).text() + "': its answers may be worse");
  }
  auto estimator = std::make_unique<FaceAgeEstimator>(std::move(age_model), Device::parse(flags.device_name), options);
  if (!options.detect_face && !options.align) {
    warnings.push_back(
        "no face check was made: each image is taken to be one face crop (--detect-face finds the "
        "faces of a photo)");
  }
  return estimator;
}

}  // namespace edat::apps
