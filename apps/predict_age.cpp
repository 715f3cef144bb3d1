// predict_age: the age of the face in each image, from weights train_resnet wrote. The preprocessing is the
// evaluation transform of training (resize, centre crop, normalise); with --detect-face the image is first cropped
// around the face found by dlib's detector, as crop_faces crops training data.
//
//   predict_age --weights runs/appa/best.safetensors photo.jpg [more.jpg ...] [--json] [--detect-face]
#include <CLI/CLI.hpp>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "autograd/grad_mode.h"
#include "data/decode.h"
#include "tensor/error.h"
#include "train/objective.h"
#include "train/splits.h"
#ifdef EDAT_WITH_FACES
#include "data/faces/face_crop.h"
#include "data/faces/face_detector.h"
#endif

using namespace edat;

int main(int argc, char** argv) {
  CLI::App app{"Predicts the age of the face in each image with a network trained by train_resnet."};
  std::string weights_path, arch, device_name = "cpu";
  std::int64_t img_size = 0;
  std::vector<std::string> images;
  bool json_output = false, detect_face = false;
  double margin = 0.4;
  int upsample = 1;
  app.add_option("--weights", weights_path, "weights written by train_resnet (best.safetensors, final.safetensors)")
      ->required();
  app.add_option("--arch", arch, "architecture (default: the one recorded in the weights file)");
  app.add_option("--img-size", img_size, "input size (default: the one recorded in the weights file)");
  app.add_option("--device", device_name, "cpu or cuda")->capture_default_str();
  app.add_flag("--json", json_output, "print [{\"image\": PATH, \"age\": X}, ...] instead of lines");
  app.add_flag("--detect-face", detect_face, "crop around the most confident face first (error if there is none)");
  app.add_option("--margin", margin, "--detect-face: margin around the face box, as a share of its side")
      ->capture_default_str();
  app.add_option("--upsample", upsample, "--detect-face: image doublings before detection (1 finds faces from 40 px)")
      ->capture_default_str()
      ->check(CLI::Range(0, 3));
  app.add_option("images", images, "image files (JPEG, PNG, BMP)")->required();
  CLI11_PARSE(app, argc, argv);

  try {
    train::AgeModel age_model = train::load_age_model(weights_path, arch, img_size);
    const train::ModelDescription& d = age_model.description;
    const Device device = Device::parse(device_name);
    age_model.model->to(device);
    const train::AgeObjective objective(d);
    const data::Compose transforms = train::eval_transforms(d.img_size, d.resize);
    const data::Normalize normalize;
#ifdef EDAT_WITH_FACES
    const data::FaceDetector detector(upsample);
#else
    EDAT_CHECK(!detect_face, "--detect-face: this build has no face detector (dlib was not found at build time)");
#endif
    NoGradGuard no_grad;
    nlohmann::json results = nlohmann::json::array();
    Generator unused(0);
    for (const std::string& path : images) {
      // As the loader decodes: a JPEG may be decoded smaller in the DCT domain when the resize allows it (not when
      // a face is cut out of the full image first).
      data::DecodeOptions decode;
      if (!detect_face)
        decode.min_width = transforms.decode_hint().min_width, decode.min_height = transforms.decode_hint().min_height;
      data::Image image = data::decode_image_file(path, decode);
      if (detect_face) {
#ifdef EDAT_WITH_FACES
        const auto faces = detector.detect(image);
        EDAT_CHECK(!faces.empty(), path << ": no face found (try without --detect-face on a face crop)");
        if (faces.size() > 1) {
          std::fprintf(stderr, "predict_age: %s: %zu faces found; using the most confident\n", path.c_str(),
                       faces.size());
        }
        image = data::crop_face(image, faces.front(), margin, static_cast<int>(d.resize));
#endif
      }
      const Tensor input =
          normalize.to_tensor(transforms.apply(image, unused)).untracked_view({1, 3, d.img_size, d.img_size});
      const double age = objective.predict(age_model.model->forward(input.to(device))).at(0);
      if (json_output) {
        results.push_back({{"image", path}, {"age", age}});
      } else {
        std::printf("%s: %.1f\n", path.c_str(), age);
      }
    }
    if (json_output) std::printf("%s\n", results.dump(2).c_str());
    return 0;
  } catch (const std::exception& e) {  // edat::Error, data::DecodeError
    std::fprintf(stderr, "predict_age: error: %s\n", e.what());
    return 1;
  }
}
