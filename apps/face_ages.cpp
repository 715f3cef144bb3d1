#include "apps/face_ages.h"

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

FaceAgeEstimator::FaceAgeEstimator(train::AgeModel model, Device device, const FaceAgeOptions& options)
    : model_(std::move(model)),
      device_(device),
      options_(options),
      objective_(model_.description),
      transforms_(train::eval_transforms(model_.description.img_size, model_.description.resize)) {
  model_.model->to(device_);
  options_.detect_face |= options_.align;
  if (options_.detect_face) {
#ifdef EDAT_WITH_FACES
    detector_ = std::make_unique<data::FaceDetector>(options_.upsample);
    if (options_.align) aligner_ = std::make_unique<data::FaceAligner>(options_.landmarks);
#else
    throw Error("--detect-face: this build has no face detector (dlib was not found at build time)");
#endif
  }
}

FaceAgeEstimator::~FaceAgeEstimator() = default;

std::vector<data::Image> FaceAgeEstimator::face_crops(const std::string& path, ImageAges& result) const {
  if (!options_.detect_face) {
    // As the loader decodes: a JPEG may be decoded smaller in the DCT domain when the resize allows it.
    data::DecodeOptions decode;
    decode.max_pixels = options_.max_pixels;
    decode.min_width = transforms_.decode_hint().min_width;
    decode.min_height = transforms_.decode_hint().min_height;
    result.faces.push_back({});
    return {data::decode_image_file(path, decode)};
  }
#ifdef EDAT_WITH_FACES
  data::DecodeOptions decode;
  decode.max_pixels = options_.max_pixels;
  const data::Image image = data::decode_image_file(path, decode);
  std::vector<data::Image> crops;
  for (const data::FaceBox& box : detector_->detect(image)) {
    result.faces.push_back({.box = box});
    const int size = static_cast<int>(model_.description.resize);
    crops.push_back(aligner_ ? aligner_->align(image, box, size, options_.chip_padding)
                             : data::crop_face(image, box, options_.margin, size));
  }
  EDAT_CHECK(!crops.empty(), "no face found (without --detect-face a face crop is taken as it is)");
  return crops;
#else
  return {};
#endif
}

ImageAges FaceAgeEstimator::estimate(const std::string& path) {
  ImageAges result{.image = path, .faces = {}, .error = {}};
  try {
    const std::vector<data::Image> crops = face_crops(path, result);
    const Tensor input = train::eval_batch(crops, transforms_, model_.description.img_size).to(device_);
    std::vector<double> raw = objective_.raw_ages(model_.model->forward(input));
    if (options_.tta_flip) train::average_with_mirror(*model_.model, objective_, input, raw);
    const std::vector<double> ages = objective_.clamp(raw);
    for (std::size_t i = 0; i < crops.size(); ++i) result.faces[i].raw_age = raw[i], result.faces[i].age = ages[i];
  } catch (const std::exception& e) {  // edat::Error, data::DecodeError
    result.faces.clear();
    result.error = e.what();
  }
  return result;
}

}  // namespace edat::apps
