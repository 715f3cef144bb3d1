#include "apps/face_ages.h"

#include <cmath>

#include "autograd/grad_mode.h"
#include "data/decode.h"
#include "tensor/error.h"
#include "tensor/factory.h"
#include "train/evaluate.h"
#include "train/splits.h"

namespace edat::apps {

data::FaceCropRecord crop_record(const FaceAgeOptions& options) {
  using Method = data::FaceCropRecord::Method;
  if (options.align) return {.method = Method::aligned, .margin = 0, .padding = options.chip_padding};
  if (options.detect_face) return {.method = Method::box, .margin = options.margin, .padding = 0};
  return {};
}

void crop_as(const data::FaceCropRecord& record, FaceAgeOptions& options) {
  using Method = data::FaceCropRecord::Method;
  options.detect_face = record.method != Method::none;
  options.align = record.method == Method::aligned;
  if (record.method == Method::box) options.margin = record.margin;
  if (record.method == Method::aligned) options.chip_padding = record.padding;
}

namespace {

// value rounded to 1 / per_unit (the nearest double, which prints short: 2.167, not 2.1670000000000003).
double rounded(double value, double per_unit) { return std::round(value * per_unit) / per_unit; }

}  // namespace

nlohmann::ordered_json to_json(const FaceAge& face) {
  nlohmann::ordered_json entry = {{"box", nullptr}, {"score", nullptr}, {"age", rounded(face.age, 100)}};
  if (face.box) {
    entry["box"] = {face.box->left, face.box->top, face.box->width, face.box->height};
    entry["score"] = rounded(face.box->score, 1000);
  }
  if (face.raw_age != face.age) entry["clamped_from"] = rounded(face.raw_age, 100);
  return entry;
}

struct FaceAgeEstimator::Network {
  Network(train::AgeModel age_model, Device on, const FaceAgeOptions& given)
      : model(std::move(age_model)),
        device(on),
        options(given),
        objective(model.description),
        transforms(train::eval_transforms(model.description.img_size, model.description.resize)) {}

  train::AgeModel model;
  Device device;
  FaceAgeOptions options;
  train::AgeObjective objective;
  data::Compose transforms;
#ifdef EDAT_WITH_FACES
  std::unique_ptr<data::FaceAligner> aligner;  // with options.align
#endif
};

FaceAgeEstimator::FaceAgeEstimator(train::AgeModel model, Device device, const FaceAgeOptions& options)
    : network_(std::make_shared<Network>(std::move(model), device, options)) {
  Network& n = *network_;
  n.model.model->to(device);
  n.options.detect_face |= n.options.align;
  if (n.options.detect_face) {
#ifdef EDAT_WITH_FACES
    detector_ = std::make_unique<data::FaceDetector>(n.options.upsample);
    if (n.options.align) n.aligner = std::make_unique<data::FaceAligner>(n.options.landmarks);
#else
    throw Error("--detect-face: this build has no face detector (dlib was not found at build time)");
#endif
  }
}

FaceAgeEstimator::FaceAgeEstimator(const FaceAgeEstimator& other) : network_(other.network_) {
#ifdef EDAT_WITH_FACES
  if (other.detector_) detector_ = std::make_unique<data::FaceDetector>(*other.detector_);
#endif
}

FaceAgeEstimator::~FaceAgeEstimator() = default;

const train::ModelDescription& FaceAgeEstimator::description() const { return network_->objective.description(); }

const FaceAgeOptions& FaceAgeEstimator::options() const { return network_->options; }

std::vector<data::Image> FaceAgeEstimator::face_crops(const std::uint8_t* data, std::size_t size,
                                                      const std::string& name, ImageAges& result) const {
  const Network& n = *network_;
  data::DecodeOptions decode;
  decode.max_pixels = n.options.max_pixels;
  if (!n.options.detect_face) {
    // As the loader decodes: a JPEG may be decoded smaller in the DCT domain when the resize allows it.
    decode.min_width = n.transforms.decode_hint().min_width;
    decode.min_height = n.transforms.decode_hint().min_height;
    data::Image image = data::decode_image(data, size, decode, name);
    result.width = image.width, result.height = image.height;
    result.faces.push_back({});
    return {std::move(image)};
  }
#ifdef EDAT_WITH_FACES
  const data::Image image = data::decode_image(data, size, decode, name);
  result.width = image.width, result.height = image.height;
  std::vector<data::Image> crops;
  for (const data::FaceBox& box : detector_->detect(image)) {
    result.faces.push_back({.box = box});
    const int side = static_cast<int>(n.model.description.resize);
    crops.push_back(n.aligner ? n.aligner->align(image, box, side, n.options.chip_padding)
                              : data::crop_face(image, box, n.options.margin, side));
  }
  return crops;
#else
  return {};
#endif
}

ImageAges FaceAgeEstimator::estimate(const std::string& path) {
  std::vector<std::uint8_t> bytes;
  try {
    bytes = data::read_file_bytes(path);
  } catch (const data::DecodeError& e) {
    return {.image = path, .faces = {}, .error = e.what(), .failure = ImageAges::Failure::bad_image};
  }
  return estimate(bytes.data(), bytes.size(), path);
}

ImageAges FaceAgeEstimator::estimate(const std::uint8_t* data, std::size_t size, const std::string& name) {
  NoGradGuard no_grad;  // per thread: every caller's thread records no graph
  const Network& n = *network_;
  ImageAges result{.image = name, .faces = {}, .error = {}};
  try {
    const std::vector<data::Image> crops = face_crops(data, size, name, result);
    if (crops.empty()) {
      result.error = "no face found (without --detect-face a face crop is taken as it is)";
      result.failure = ImageAges::Failure::no_face;
      return result;
    }
    const std::int64_t count = static_cast<std::int64_t>(crops.size());
    const Tensor input = train::eval_batch(crops, n.transforms, n.model.description.img_size).to(n.device);
    std::vector<double> raw = n.objective.raw_ages(n.model.model->forward(input));
    if (n.options.tta_flip) train::average_with_mirror(*n.model.model, n.objective, input, raw);
    const std::vector<double> ages = n.objective.clamp(raw);
    for (std::int64_t i = 0; i < count; ++i) result.faces[i].raw_age = raw[i], result.faces[i].age = ages[i];
  } catch (const Error& e) {  // data::DecodeError, or a check on the image (too large to resize, ...)
    result.faces.clear();
    result.error = e.what();
    result.failure = ImageAges::Failure::bad_image;
  } catch (const std::exception& e) {  // out of memory
    result.faces.clear();
    result.error = e.what();
    result.failure = ImageAges::Failure::internal;
  }
  return result;
}

}  // namespace edat::apps
