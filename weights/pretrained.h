// Loading pretrained weights (a torchvision .pth or a safetensors file) into a model, transfer-learning style.
#pragma once

#include <string>

#include "layers/module.h"

namespace edat::weights {

// Reads `path` (any format read_weights knows) and loads it into `model` strictly, with two exceptions, both
// reported (on stdout when `verbose`, and in the report's `skipped` list):
//   - the head: when a tensor under `fc.` or `classifier.` has another shape in the file than in the model
//     (1000 ImageNet classes vs 1 age output), or is not in the file at all (a feature extractor without a
//     classifier), the module holding it (`fc.`, `classifier.1.`, `classifier.6.`) is skipped and keeps the model's
//     initialisation; the rest of the classifier (VGG's classifier.0 and .3) loads;
//   - `num_batches_tracked` buffers present on one side only (older files lack them; some models do).
// Anything else (missing or unexpected keys, other shape mismatches) is an edat::Error naming the file and keys.
nn::LoadReport load_pretrained(nn::Module& model, const std::string& path, bool verbose = false);

}  // namespace edat::weights
