#include "models/transfer.h"

#include <algorithm>
#include <sstream>

#include "layers/modules.h"

namespace edat::models {

TransferMode parse_transfer_mode(const std::string& name) {
  if (name == "feature-extraction" || name == "feature_extraction") return TransferMode::feature_extraction;
  if (name == "finetune") return TransferMode::finetune;
  if (name == "partial") return TransferMode::partial;
  throw Error("unknown transfer mode '" + name + "': expected feature-extraction, finetune or partial");
}

const char* transfer_mode_name(TransferMode mode) {
  switch (mode) {
    case TransferMode::feature_extraction:
      return "feature-extraction";
    case TransferMode::finetune:
      return "finetune";
    case TransferMode::partial:
      return "partial";
  }
  return "?";
}

std::vector<std::string> split_parts(const std::string& list) {
  std::vector<std::string> parts;
  std::stringstream stream(list);
  std::string item;
  while (std::getline(stream, item, ',')) {
    const auto first = item.find_first_not_of(" \t");
    if (first == std::string::npos) continue;
    const auto last = item.find_last_not_of(" \t");
    parts.push_back(item.substr(first, last - first + 1));
  }
  return parts;
}

std::string TransferSummary::str() const {
  std::ostringstream out;
  out << "trainable " << trainable_parameters << " of " << trainable_parameters + frozen_parameters << " parameters; "
      << pinned_batch_norms.size() << " batch norms pinned in eval mode";
  return out.str();
}

namespace {

bool is_under(const std::string& name, const std::string& part) {
  return name == part || name.rfind(part + ".", 0) == 0;
}

}  // namespace

TransferSummary apply_transfer_mode(Backbone& model, TransferMode mode, const std::vector<std::string>& trainable_parts,
                                    std::optional<double> dropout) {
  EDAT_CHECK(!dropout || (*dropout >= 0 && *dropout < 1),
             "transfer: dropout before the head must be in [0, 1), got " << *dropout);
  auto modules = model.named_modules();
  std::vector<std::string> top_level;  // the parts a user names: children holding parameters
  for (auto& [name, child] : model.named_children())
    if (!child->named_parameters().empty()) top_level.push_back(name);
  auto list = [](const std::vector<std::string>& names) {
    std::string text;
    for (std::size_t i = 0; i < names.size(); ++i) text += (i ? ", " : "") + names[i];
    return text;
  };

  std::vector<std::string> trainable;
  switch (mode) {
    case TransferMode::feature_extraction:
      trainable = {model.head_name()};
      break;
    case TransferMode::finetune:
      trainable = {""};
      break;  // "" is the model itself: everything
    case TransferMode::partial:
      EDAT_CHECK(!trainable_parts.empty(),
                 "transfer mode partial needs a list of trainable parts, such as layer4,fc for a ResNet or "
                 "features.18,classifier for MobileNetV2; the parts are: "
                     << list(top_level));
      trainable = trainable_parts;
      break;
  }
  if (mode != TransferMode::partial) {
    EDAT_CHECK(trainable_parts.empty(), "transfer mode " << transfer_mode_name(mode) << " takes no list of trainable "
                                                         << "parts (got " << list(trainable_parts) << "); use partial");
  }
  for (const std::string& part : trainable) {
    const bool known = std::any_of(modules.begin(), modules.end(), [&](const auto& m) { return m.first == part; });
    EDAT_CHECK(known && (!part.empty() || mode == TransferMode::finetune),
               "unknown part '" << part << "' for transfer mode " << transfer_mode_name(mode)
                                << ": the parts of this model are " << list(top_level)
                                << " (or a module inside one, such as layer4.1 of a ResNet)");
  }
  auto trains = [&](const std::string& name) {
    return std::any_of(trainable.begin(), trainable.end(),
                       [&](const std::string& part) { return part.empty() || is_under(name, part); });
  };

  TransferSummary summary;
  for (auto& [name, tensor] : model.named_parameters()) {
    const bool on = trains(name);
    tensor.set_requires_grad(on);
    (on ? summary.trainable_parameters : summary.frozen_parameters) += tensor.numel();
  }
  // Batch norms of frozen parts are pinned in evaluation mode; those of trainable parts are released.
  const bool training = model.is_training();
  for (auto& [name, module] : modules) {
    if (dynamic_cast<nn::BatchNorm2d*>(module) == nullptr) continue;
    const bool frozen = !trains(name);
    module->pin_eval(frozen);
    if (frozen) summary.pinned_batch_norms.push_back(name);
  }
  if (dropout) model.set_head_dropout(*dropout);
  model.train(training);  // re-applies the mode to every module under the new pins
  return summary;
}

}  // namespace edat::models
