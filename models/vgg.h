// VGG-16 and VGG-16-BN (Simonyan & Zisserman 2015, configuration "D") with exactly torchvision's structure, parameter
// names, shapes and initialisation (torchvision.models.vgg16 / vgg16_bn):
//
//   features    13 3x3 convolutions (padding 1, with bias) each followed by [BatchNorm2d,] ReLU, and 5 max pools
//               2x2/2, as one Sequential: 64 64 M 128 128 M 256 256 256 M 512 512 512 M 512 512 512 M
//               (31 modules: the last convolution is features.28; with batch norm 44: features.40)
//   avgpool     AdaptiveAvgPool2d(7, 7)   (from 32x32 inputs on, whatever the size: a 1x1 map is repeated 7x7)
//   classifier  Linear(25088, 4096), ReLU, Dropout, Linear(4096, 4096), ReLU, Dropout, Linear(4096, n)
//
// The head is classifier.6; head dropout is classifier.5 (see classifier_backbone.h), and features() ends after
// classifier.4 (4096 values). Initialisation: convolutions kaiming-normal (fan-out) with bias 0, batch norms 1/0,
// Linear N(0, 0.01) with bias 0.
#pragma once

#include <cstdint>
#include <memory>

#include "models/classifier_backbone.h"

namespace edat::models {

struct VGGSpec {
  bool batch_norm = false;  // vgg16_bn
  std::int64_t num_outputs = 1000;
  double dropout = 0.5;  // classifier.2 and classifier.5, torchvision's `dropout` argument
};

class VGG : public ClassifierBackbone {
 public:
  explicit VGG(const VGGSpec& spec = {}, Generator& generator = default_generator());
  std::string arch() const override { return spec_.batch_norm ? "vgg16_bn" : "vgg16"; }
  // (N, 3, H, W), H and W >= 32 -> the 4096 values that enter classifier.5 (the head dropout), then the head.
  Tensor features(const Tensor& x) override;
  std::int64_t feature_count() const override { return 4096; }
  const VGGSpec& spec() const { return spec_; }

 private:
  VGGSpec spec_;
  std::shared_ptr<nn::Module> features_, avgpool_;
};

std::shared_ptr<VGG> vgg16(std::int64_t num_outputs = 1000, Generator& generator = default_generator());
std::shared_ptr<VGG> vgg16_bn(std::int64_t num_outputs = 1000, Generator& generator = default_generator());

}  // namespace edat::models
