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
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "apps/face_age_flags.h"
#include "apps/face_ages.h"

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

nlohmann::ordered_json to_json(const apps::ImageAges& result) {
  if (!result.error.empty()) return {{"image", result.image}, {"error", result.error}};
  nlohmann::ordered_json faces = nlohmann::ordered_json::array();
  for (const apps::FaceAge& face : result.faces) faces.push_back(apps::to_json(face));
  return {{"image", result.image}, {"faces", faces}};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "Predicts the age of the faces in each image with the model edat ships (docs/model_card.md) or a\n"
      "network trained by train_resnet (--weights)."};
  apps::FaceAgeFlags flags;
  apps::add_face_age_flags(app, flags);
  bool json_output = false;
  app.add_flag("--json", json_output, "print one JSON array: per image its faces (box, score, age) or an error");
  std::vector<std::string> images;
  app.add_option("images", images, "image files (JPEG, PNG, BMP)")->required();
  CLI11_PARSE(app, argc, argv);

  // A setup failure (weights unreadable, no such device) is every image's error, so --json still prints an answer
  // per image.
  std::string setup_error;
  std::unique_ptr<apps::FaceAgeEstimator> estimator;
  std::vector<std::string> warnings;
  try {
    estimator = apps::load_estimator(app, flags, warnings);
  } catch (const std::exception& e) {  // edat::Error, a filesystem error
    setup_error = e.what();
  }
  for (const std::string& warning : warnings) std::fprintf(stderr, "predict_age: warning: %s\n", warning.c_str());

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
