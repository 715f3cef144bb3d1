// Renaming a state dict by position: many checkpoints in the wild hold the right tensors under other names (an
// older torchvision's "features.1.conv.0.weight" for "features.1.conv.0.0.weight", a "module." prefix, a
// framework's own scheme). When the order is the model's, the i-th tensor of the file is the i-th of the model.
#pragma once

#include <string>
#include <vector>

#include "layers/module.h"

namespace edat::weights {

struct OrderMatch {
  nn::NamedTensors tensors;            // the file's tensors under the model's names, in the model's order
  std::vector<std::string> unmatched;  // the model's tensors the file has no counterpart for (its head)
};

// Pairs `file` with `model` (a state dict) position by position and checks every shape; the first mismatch is an
// edat::Error naming both tensors, their positions and shapes. The file may end before the model only where all
// the model's remaining tensors start with `head_prefix` (a feature extractor without a classifier); a longer file
// is an error. When the file holds no batch-norm counter at all (no 0-dim i64 tensor), the model's
// num_batches_tracked are left out of the pairing (and listed in `unmatched`). `source` names the file in messages.
OrderMatch match_by_order(const nn::NamedTensors& file, const nn::NamedTensors& model, const std::string& head_prefix,
                          const std::string& source);

}  // namespace edat::weights
