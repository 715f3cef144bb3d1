// predict_age: the age of every face in each image, with the model edat ships (trained-models/, docs/model_card.md)
// or weights train_resnet wrote (--weights). The preprocessing is the
// evaluation transform of training (resize, centre crop, normalise); with --detect-face every face dlib's detector
// finds is cropped as crop_faces crops training data, and each gets an age. Without it the whole image is taken to be
// one face crop (and a warning says that no face check was made). By default photos are cropped as the model's
// training images were (the weights' edat.face_crop, from crop_faces' face_crop.txt): box + margin, or an aligned
// chip (--align); other crops than the trained ones are a warning.
//
// Every image gets an answer: its faces, or an error (unreadable, no face found). The others go on; the exit code
// is 1 when any image failed. With --json the output is always one valid JSON array:
//   [{"image": "group.jpg", "faces": [{"box": [x, y, w, h], "score": 1.52, "age": 34.2}, ...]},
//    {"image": "crop.jpg", "faces": [{"box": null, "score": null, "age": 27.9}]},
//    {"image": "bad.jpg", "error": "..."}]
//
//   predict_age photo.jpg [more.jpg ...] [--json]                # the shipped model: every face found, aligned
//   predict_age --weights runs/appa/best.safetensors photo.jpg [--detect-face]
#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>

#include "apps/face_ages.h"
#include "apps/project_files.h"
#include "autograd/grad_mode.h"
#include "tensor/error.h"
#include "train/objective.h"

using namespace edat;

namespace {

// "[12, 40, 80, 80], score 1.52" or "" when the face was not detected.
std::string box_text(const apps::FaceAge& face) {
  if (!face.box) return "";
  const data::FaceBox& b = *face.box;
  char text[128];
  std::snprintf(text, sizeof text, " at [%d, %d, %d, %d], score %.2f", b.left, b.top, b.width, b.height, b.score);
  return text;
}

void print_text(const apps::ImageAges& result) {
  if (!result.error.empty()) {
    std::fprintf(stderr, "predict_age: error: %s: %s\n", result.image.c_str(), result.error.c_str());
    return;
  }
  for (std::size_t i = 0; i < result.faces.size(); ++i) {
    const apps::FaceAge& face = result.faces[i];
    std::string clamped;
    if (face.raw_age != face.age) clamped = " (clamped from " + std::to_string(face.raw_age) + ")";
    if (face.box) {
      std::printf("%s: face %zu of %zu%s: %.1f%s\n", result.image.c_str(), i + 1, result.faces.size(),
                  box_text(face).c_str(), face.age, clamped.c_str());
    } else {
      std::printf("%s: %.1f%s\n", result.image.c_str(), face.age, clamped.c_str());
    }
  }
}

// value rounded to 1 / per_unit (the nearest double, which prints short: 2.167, not 2.1670000000000003).
double rounded(double value, double per_unit) { return std::round(value * per_unit) / per_unit; }

nlohmann::ordered_json to_json(const apps::ImageAges& result) {
  if (!result.error.empty()) return {{"image", result.image}, {"error", result.error}};
  nlohmann::ordered_json faces = nlohmann::ordered_json::array();
  for (const apps::FaceAge& face : result.faces) {
    nlohmann::ordered_json entry = {{"box", nullptr}, {"score", nullptr}, {"age", rounded(face.age, 100)}};
    if (face.box) {
      entry["box"] = {face.box->left, face.box->top, face.box->width, face.box->height};
      entry["score"] = rounded(face.box->score, 1000);
    }
    if (face.raw_age != face.age) entry["clamped_from"] = rounded(face.raw_age, 100);
    faces.push_back(entry);
  }
  return {{"image", result.image}, {"faces", faces}};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Predicts the age of the faces in each image with the model edat ships (docs/model_card.md) or a\n"
               "network trained by train_resnet (--weights)."};
  std::string weights_path = apps::project_file(apps::kShippedModel), arch, device_name = "cpu";
  std::int64_t img_size = 0;
  std::vector<std::string> images;
  bool json_output = false;
  apps::FaceAgeOptions options;
  options.landmarks = apps::project_file(data::kDefaultLandmarks);
  std::string tta = "flip";  // the mean of each face's and its mirror image's age: 0.04 years better for twice the
                             // network time (docs/model_card.md)
  app.add_option("--weights", weights_path,
                 "weights written by train_resnet (best.safetensors, final.safetensors); default: the shipped model")
      ->capture_default_str();
  app.add_option("--arch", arch, "architecture (default: the one recorded in the weights file)");
  app.add_option("--img-size", img_size, "input size (default: the one recorded in the weights file; another warns)");
  app.add_option("--device", device_name, "cpu or cuda")->capture_default_str();
  app.add_flag("--json", json_output, "print one JSON array: per image its faces (box, score, age) or an error");
  app.add_flag("--detect-face", options.detect_face,
               "find every face (dlib) and give each its age (default: crop as the model's training images were, "
               "edat.face_crop: none, box or aligned)");
  app.add_option("--margin", options.margin, "--detect-face: margin around the face box, as a share of its side")
      ->capture_default_str();
  app.add_option("--upsample", options.upsample, "--detect-face: image doublings before detection (1 finds faces "
                                                 "from 40 px, 0 from 80 px, 4x faster)")
      ->capture_default_str()
      ->check(CLI::Range(0, data::kMaxUpsample));
  auto* align_flag = app.add_flag("--align", options.align,
                                  "detect every face and cut aligned chips (eyes level, fixed scale: dlib's "
                                  "get_face_chip_details), as crop_faces --align");
  bool whole_image = false;
  app.add_flag("--whole-image", whole_image,
               "each image is already one face crop: no detection (for a model trained on detected faces, crop the "
               "images as its training images were)")
      ->excludes(align_flag)
      ->excludes("--detect-face");
  app.add_option("--landmarks", options.landmarks, "--align: dlib's shape_predictor_5_face_landmarks.dat")
      ->capture_default_str();
  app.add_option("--chip-padding", options.chip_padding, "--align: padding around the face, as dlib's")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 4.0));
  app.add_option("--tta", tta, "test-time augmentation: flip (the mean of each crop's and its mirror's age), or none")
      ->capture_default_str()
      ->check(CLI::IsMember({"none", "flip"}));
  app.add_option("--max-pixels", options.max_pixels,
                 "refuse images with more pixels (JPEGs first decode smaller to fit)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("images", images, "image files (JPEG, PNG, BMP)")->required();
  CLI11_PARSE(app, argc, argv);
  options.tta_flip = tta == "flip";

  // A setup failure (weights unreadable, no such device) is every image's error, so --json still prints an answer
  // per image.
  std::string setup_error;
  std::unique_ptr<apps::FaceAgeEstimator> estimator;
  try {
    EDAT_CHECK(app.count("--weights") || std::filesystem::exists(weights_path),
               "the shipped model " << weights_path << " is missing (it comes with edat's source tree; "
               "scripts/train_release_model.sh makes it again): give --weights");
    train::AgeModel age_model = train::load_age_model(weights_path, arch, img_size);
    for (const std::string& warning : age_model.warnings)
      std::fprintf(stderr, "predict_age: warning: %s\n", warning.c_str());
    // Crop photos as the training images were cropped, unless told how; say so when told otherwise.
    const data::FaceCropRecord trained =
        data::FaceCropRecord::parse(age_model.description.face_crop, weights_path + " edat.face_crop");
    if (app.count("--detect-face") + app.count("--align") + app.count("--whole-image") == 0) {
      const apps::FaceAgeOptions given = options;
      apps::crop_as(trained, options);
      if (app.count("--margin")) options.margin = given.margin;
      if (app.count("--chip-padding")) options.chip_padding = given.chip_padding;
    }
    if (trained.method != data::FaceCropRecord::Method::none && apps::crop_record(options) != trained) {
      std::fprintf(stderr, "predict_age: warning: the model was trained on '%s' crops, these are '%s': its answers "
                   "may be worse\n", trained.text().c_str(), apps::crop_record(options).text().c_str());
    }
    estimator = std::make_unique<apps::FaceAgeEstimator>(std::move(age_model), Device::parse(device_name), options);
  } catch (const std::exception& e) {  // edat::Error, a filesystem error
    setup_error = e.what();
  }
  if (estimator && !options.detect_face && !options.align) {
    std::fprintf(stderr,
                 "predict_age: warning: no face check was made: each image is taken to be one face crop "
                 "(--detect-face finds the faces of a photo)\n");
  }

  NoGradGuard no_grad;
  nlohmann::ordered_json results = nlohmann::ordered_json::array();
  bool any_failed = false;
  for (const std::string& path : images) {
    apps::ImageAges result{.image = path, .faces = {}, .error = {}};
    if (estimator) {
      result = estimator->estimate(path);
    } else {
      result.error = setup_error;
    }
    any_failed |= !result.error.empty();
    for (const apps::FaceAge& face : result.faces) {
      if (face.raw_age != face.age)
        std::fprintf(stderr, "predict_age: %s: age %.1f clamped into the model's range [%g, %g]\n", path.c_str(),
                     face.raw_age, estimator->age_range().first, estimator->age_range().second);
    }
    if (json_output) {
      results.push_back(to_json(result));
    } else {
      print_text(result);
    }
  }
  if (json_output) std::printf("%s\n", results.dump(2).c_str());
  return any_failed ? 1 : 0;
}
