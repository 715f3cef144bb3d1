// torchvision's re-initialisation of the layers its models build (shared by ResNet, MobileNetV2 and VGG): each
// layer is first made with PyTorch's default initialisation (drawing from the generator), then redrawn here, in the
// order torchvision's `for m in self.modules()` loop would see them.
#pragma once

#include <cstdint>
#include <memory>

#include "layers/modules.h"

namespace edat::models {

// kaiming_normal_(mode="fan_out", nonlinearity="relu"): weight ~ N(0, sqrt(2 / fan_out)), fan_out = out * k * k
// (also for grouped convolutions: PyTorch's fan_out ignores groups); bias (when spec.bias) = 0.
std::shared_ptr<nn::Conv2d> kaiming_conv(const nn::Conv2dSpec& spec, Generator& generator);

// nn.init.normal_(weight, 0, 0.01) and bias = 0: the Linear layers of MobileNetV2 and VGG.
std::shared_ptr<nn::Linear> small_normal_linear(std::int64_t in, std::int64_t out, Generator& generator);

}  // namespace edat::models
