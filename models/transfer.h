// Transfer-learning modes: which parts of a (pretrained) network train, and an optional dropout before the head.
//
//   feature-extraction  only the head (Backbone::head_name(): fc for a ResNet) trains; everything else is frozen
//   finetune            everything trains
//   partial             the listed parts train (e.g. {"layer4", "fc"}), the rest is frozen
//
// Frozen means requires_grad = false (an optimizer neither updates them nor gives them state) AND every batch norm
// inside a frozen part is pinned in evaluation mode (Module::pin_eval), so model.train() no longer lets it normalise
// with batch statistics or update its running statistics: a frozen network stays the function it was trained as
// (the original project froze the weights but let the running statistics drift).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "models/backbone.h"

namespace edat::models {

enum class TransferMode { feature_extraction, finetune, partial };

// "feature-extraction" (or "feature_extraction"), "finetune", "partial"; anything else is an edat::Error listing them.
TransferMode parse_transfer_mode(const std::string& name);
const char* transfer_mode_name(TransferMode mode);

// Splits "layer4,fc" into {"layer4", "fc"} (spaces trimmed, empty items dropped).
std::vector<std::string> split_parts(const std::string& list);

struct TransferSummary {
  std::int64_t trainable_parameters = 0;  // elements
  std::int64_t frozen_parameters = 0;
  std::vector<std::string> pinned_batch_norms;  // module names, e.g. "layer1.0.bn1"
  std::string str() const;                      // "trainable 513 of 11177025 parameters; 20 batch norms pinned"
};

// Applies `mode` to `model`, undoing any earlier mode first (so modes can be switched during training).
// trainable_parts (partial only; must be empty otherwise) are names of modules of the model: a top-level part
// (conv1, bn1, layer1 .. layer4, fc) or any deeper module such as "layer4.1"; an unknown name is an edat::Error
// listing the valid top-level parts (ResNet: conv1, bn1, layer1 .. layer4, fc; MobileNetV2: features, classifier,
// with blocks features.0 .. features.18; VGG: features, classifier, e.g. "features.28,classifier"). A dropout sets
// the head dropout (Backbone::set_head_dropout: 0 removes ResNet's, and makes MobileNetV2's / VGG's the identity);
// none (nullopt) keeps the model's, e.g. torchvision's 0.2 of MobileNetV2. Call it before model.to(device) or after:
// it moves nothing.
TransferSummary apply_transfer_mode(Backbone& model, TransferMode mode,
                                    const std::vector<std::string>& trainable_parts = {},
                                    std::optional<double> dropout = std::nullopt);

}  // namespace edat::models
