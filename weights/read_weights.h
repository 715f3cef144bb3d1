// Reads a weight file of any format edat knows, chosen by its first bytes (not its name):
// safetensors, or a PyTorch .pth state dict (zip or legacy format).
#pragma once

#include <string>

#include "layers/module.h"

namespace edat::weights {

nn::NamedTensors read_weights(const std::string& path);

}  // namespace edat::weights
