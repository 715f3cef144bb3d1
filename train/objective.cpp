#include "train/objective.h"

#include <algorithm>
#include <cmath>

#include "autograd/ops.h"
#include "layers/functional.h"
#include "models/coral.h"
#include "tensor/error.h"
#include "tensor/factory.h"
#include "weights/read_weights.h"
#include "weights/safetensors.h"

namespace edat::train {

std::map<std::string, std::string> ModelDescription::metadata() const {
  std::map<std::string, std::string> m = {{"edat.arch", arch},
                                          {"edat.loss", loss},
                                          {"edat.img_size", std::to_string(img_size)},
                                          {"edat.resize", std::to_string(resize)}};
  if (loss == "coral") {
    m["edat.coral_min_age"] = std::to_string(coral_min_age);
    m["edat.coral_classes"] = std::to_string(coral_classes);
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
  ModelDescription d;
  d.arch = get("edat.arch");
  d.loss = get("edat.loss");
  d.img_size = integer("edat.img_size");
  d.resize = integer("edat.resize");
  if (d.loss == "coral") {
    d.coral_min_age = integer("edat.coral_min_age");
    d.coral_classes = integer("edat.coral_classes");
    EDAT_CHECK(d.coral_classes >= 2, source << ": edat.coral_classes must be at least 2");
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

std::vector<double> AgeObjective::predict(const Tensor& outputs) const {
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
  std::map<std::string, std::string> metadata;
  if (weights_path.ends_with(".safetensors")) {
    metadata = weights::read_safetensors_with_metadata(weights_path).metadata;
  }
  AgeModel result;
  ModelDescription& d = result.description;
  if (ModelDescription::from_metadata(metadata, d, weights_path)) {
    EDAT_CHECK(arch.empty() || arch == d.arch,
               weights_path << " holds a " << d.arch << " model, not " << arch << " (leave --arch out to use it)");
    if (img_size > 0 && img_size != d.img_size) {
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
  result.model = build_model(d, generator);
  try {
    result.model->load_state_dict(weights::read_weights(weights_path));
  } catch (const Error& e) {
    throw Error(weights_path + " does not fit a " + d.arch + " age model (" + d.loss + "): " + e.what());
  }
  result.model->eval();
  return result;
}

}  // namespace edat::train
