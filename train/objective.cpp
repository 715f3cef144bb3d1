#include "train/objective.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "autograd/ops.h"
#include "data/face_crop_record.h"
#include "layers/fold.h"
#include "layers/functional.h"
#include "layers/init_mode.h"
#include "models/coral.h"
#include "tensor/error.h"
#include "tensor/factory.h"
#include "train/checkpoint.h"
#include "train/config.h"
#include "weights/read_weights.h"
#include "weights/safetensors.h"

namespace edat::train {

namespace {

// CORAL's ages (min_age .. min_age + classes - 1) lie in 0 .. max_coral_age years.
constexpr std::int64_t max_coral_age = 200;

std::string join(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& name : names) out += (out.empty() ? "" : ", ") + name;
  return out;
}

}  // namespace

std::map<std::string, std::string> ModelDescription::metadata() const {
  std::map<std::string, std::string> m = {{"edat.arch", arch},
                                          {"edat.loss", loss},
                                          {"edat.img_size", std::to_string(img_size)},
                                          {"edat.resize", std::to_string(resize)},
                                          {"edat.face_crop", face_crop}};
  if (loss == "coral") {
    m["edat.coral_min_age"] = std::to_string(coral_min_age);
    m["edat.coral_classes"] = std::to_string(coral_classes);
  }
  if (max_age > 0) {
    char text[32];
    std::snprintf(text, sizeof text, "%.17g", max_age);
    m["edat.max_age"] = text;
  }
  return m;
}

bool ModelDescription::from_metadata(const std::map<std::string, std::string>& metadata, ModelDescription& out,
                                     const std::string& source) {
  if (!metadata.contains("edat.arch")) return false;
  auto get = [&](const std::string& key) -> const std::string& {
    auto it = metadata.find(key);
    EDAT_CHECK(it != metadata.end(), source << ": metadata has edat.arch but lacks " << key);
    return it->second;
  };
  auto integer = [&](const std::string& key) {
    const std::string& text = get(key);
    try {
      std::size_t used = 0;
      const long long value = std::stoll(text, &used);
      if (used == text.size()) return static_cast<std::int64_t>(value);
    } catch (const std::exception&) {
    }
    throw Error(source + ": metadata " + key + " = '" + text + "' is not an integer");
  };
  // The file is not trusted: every field is checked against what a run can write, naming the key.
  auto one_of = [&](const std::string& key, const std::vector<std::string>& allowed) {
    const std::string& text = get(key);
    EDAT_CHECK(std::find(allowed.begin(), allowed.end(), text) != allowed.end(),
               source << ": metadata " << key << " = '" << text << "' is not one of " << join(allowed));
    return text;
  };
  auto in_range = [&](const std::string& key, std::int64_t low, std::int64_t high) {
    const std::int64_t value = integer(key);
    EDAT_CHECK(value >= low && value <= high,
               source << ": metadata " << key << " = " << value << " is out of range [" << low << ", " << high << "]");
    return value;
  };
  ModelDescription d;
  d.arch = one_of("edat.arch", models::architectures());
  d.loss = one_of("edat.loss", losses());
  d.img_size = in_range("edat.img_size", min_img_size, max_img_size);
  d.resize = in_range("edat.resize", d.img_size, max_resize);
  if (d.loss == "coral") {
    d.coral_min_age = in_range("edat.coral_min_age", 0, max_coral_age - 1);
    d.coral_classes = in_range("edat.coral_classes", 2, max_coral_age - d.coral_min_age + 1);
  }
  if (metadata.contains("edat.face_crop")) {
    d.face_crop = data::FaceCropRecord::parse(get("edat.face_crop"), source + " edat.face_crop").text();
  }
  if (metadata.contains("edat.max_age")) {
    const std::string& text = get("edat.max_age");
    char* end = nullptr;
    d.max_age = std::strtod(text.c_str(), &end);
    EDAT_CHECK(!text.empty() && *end == '\0' && std::isfinite(d.max_age) && d.max_age > 0,
               source << ": metadata edat.max_age = '" << text << "' is not a positive number");
  }
  out = d;
  return true;
}

LossKind parse_loss(const std::string& name) {
  if (name == "l1") return LossKind::l1;
  if (name == "mse") return LossKind::mse;
  if (name == "smooth-l1") return LossKind::smooth_l1;
  if (name == "coral") return LossKind::coral;
  throw Error("unknown loss '" + name + "': expected l1, mse, smooth-l1 or coral");
}

AgeObjective::AgeObjective(ModelDescription description)
    : description_(std::move(description)), kind_(parse_loss(description_.loss)) {}

Tensor AgeObjective::loss(const Tensor& outputs, const Tensor& ages) const {
  const ModelDescription& d = description_;
  if (kind_ == LossKind::coral) {
    // Ages outside the trained range count as its ends: their binary tasks are all "no" or all "yes".
    std::vector<double> labels;
    for (float age : ages.to_vector<float>()) {
      const double label = std::nearbyint(age) - static_cast<double>(d.coral_min_age);
      labels.push_back(std::clamp(label, 0.0, static_cast<double>(d.coral_classes - 1)));
    }
    const Tensor levels = models::coral_levels(
        from_vector(labels, {.dtype = outputs.dtype(), .device = outputs.device()}), d.coral_classes);
    return models::coral_loss(outputs, levels);
  }
  const Tensor prediction = reshape(outputs, {-1});
  if (kind_ == LossKind::mse) return nn::mse_loss(prediction, ages);
  if (kind_ == LossKind::smooth_l1) return nn::smooth_l1_loss(prediction, ages);
  return nn::l1_loss(prediction, ages);
}

std::pair<double, double> ModelDescription::age_range() const {
  if (loss == "coral") return {static_cast<double>(coral_min_age), static_cast<double>(coral_min_age + coral_classes - 1)};
  return {0.0, max_age > 0 ? max_age : INFINITY};
}

std::vector<double> AgeObjective::predict(const Tensor& outputs) const { return clamp(raw_ages(outputs)); }

std::vector<double> AgeObjective::clamp(std::vector<double> ages) const {
  const auto [low, high] = description_.age_range();
  for (double& age : ages) age = std::clamp(age, low, high);
  return ages;
}

std::vector<double> AgeObjective::raw_ages(const Tensor& outputs) const {
  if (kind_ == LossKind::coral) {
    std::vector<double> ages = models::coral_predict(outputs).to_vector<double>();
    for (double& age : ages) age += static_cast<double>(description_.coral_min_age);
    return ages;
  }
  return outputs.to_vector<double>();
}

std::shared_ptr<models::Backbone> build_model(const ModelDescription& description, Generator& generator) {
  auto model = models::make_model(description.arch, 1, generator);
  if (description.loss == "coral") {
    model->set_head(std::make_shared<models::CoralHead>(model->feature_count(), description.coral_classes, generator));
  }
  return model;
}

AgeModel load_age_model(const std::string& weights_path, const std::string& arch, std::int64_t img_size) {
  // A .safetensors file is read once, for its metadata (and checksum) and its tensors; a .pth has neither. The
  // network is built without drawing initial weights (nn::SkipInitGuard): every tensor is loaded below.
  weights::SafetensorsContents contents;
  if (weights_path.ends_with(".safetensors")) {
    contents = weights::read_safetensors_with_metadata(weights_path);
    verify_checksum(contents, weights_path);
  } else {
    contents.tensors = weights::read_weights(weights_path);
  }
  const std::map<std::string, std::string>& metadata = contents.metadata;
  AgeModel result;
  ModelDescription& d = result.description;
  if (ModelDescription::from_metadata(metadata, d, weights_path)) {
    EDAT_CHECK(arch.empty() || arch == d.arch,
               weights_path << " holds a " << d.arch << " model, not " << arch << " (leave --arch out to use it)");
    if (img_size > 0 && img_size != d.img_size) {
      result.warnings.push_back("--img-size " + std::to_string(img_size) + " differs from the " +
                                std::to_string(d.img_size) + " px the model was trained at: its answers change");
      d.resize = img_size * d.resize / d.img_size;  // keep the crop's share of the resized image
      d.img_size = img_size;
    }
  } else {
    d.arch = arch.empty() ? "resnet34" : arch;
    d.loss = "l1";
    d.img_size = img_size > 0 ? img_size : 128;
    d.resize = d.img_size * 8 / 7;
  }
  Generator generator(0);
  {
    const nn::SkipInitGuard no_init;  // every tensor is loaded below
    result.model = build_model(d, generator);
  }
  try {
    result.model->load_state_dict(contents.tensors);
  } catch (const Error& e) {
    throw Error(weights_path + " does not fit a " + d.arch + " age model (" + d.loss + "): " + e.what());
  }
  result.model->eval();
  nn::fold_batch_norm(*result.model);  // inference only: one pass less over every feature map (layers/fold.h)
  return result;
}

}  // namespace edat::train
