#include "models/vgg.h"

#include "autograd/ops.h"
#include "models/init.h"

namespace edat::models {

namespace {

constexpr std::int64_t kPool = 0;  // "M" in torchvision's configuration lists
constexpr std::int64_t kConfigD[] = {64, 64, kPool, 128, 128, kPool, 256, 256, 256, kPool,
                                     512, 512, 512, kPool, 512, 512, 512, kPool};
constexpr std::int64_t kPools = 5;  // each halves H and W: inputs must be at least 2^5 = 32 pixels

}  // namespace

VGG::VGG(const VGGSpec& spec, Generator& generator) : ClassifierBackbone("VGG"), spec_(spec) {
  EDAT_CHECK(spec.num_outputs > 0, "VGG: num_outputs must be positive, got " << spec.num_outputs);
  auto features = std::make_shared<nn::Sequential>();
  std::int64_t in = 3;
  for (std::int64_t v : kConfigD) {
    if (v == kPool) {
      features->push_back(std::make_shared<nn::MaxPool2d>(2, 2));
      continue;
    }
    features->push_back(kaiming_conv({.in = in, .out = v, .kernel = 3, .padding = 1, .bias = true}, generator));
    if (spec.batch_norm) features->push_back(std::make_shared<nn::BatchNorm2d>(v));
    features->push_back(std::make_shared<nn::ReLU>());
    in = v;
  }
  features_ = register_module("features", features);
  avgpool_ = register_module("avgpool", std::make_shared<nn::AdaptiveAvgPool2d>(7, 7));
  register_classifier({small_normal_linear(in * 7 * 7, 4096, generator), std::make_shared<nn::ReLU>(),
                       std::make_shared<nn::Dropout>(spec.dropout, generator),
                       small_normal_linear(4096, 4096, generator), std::make_shared<nn::ReLU>(),
                       std::make_shared<nn::Dropout>(spec.dropout, generator),
                       small_normal_linear(4096, spec.num_outputs, generator)});
}

Tensor VGG::features(const Tensor& x) {
  constexpr std::int64_t min_size = std::int64_t{1} << kPools;
  EDAT_CHECK(x.dim() == 4 && x.size(1) == 3 && x.size(2) >= min_size && x.size(3) >= min_size,
             "VGG: expects images (N, 3, H, W) with H, W >= " << min_size << " (five 2x2 max pools), got "
                                                               << x.desc());
  return classifier_body(flatten((*avgpool_)((*features_)(x)), 1));
}

std::shared_ptr<VGG> vgg16(std::int64_t num_outputs, Generator& generator) {
  return std::make_shared<VGG>(VGGSpec{.batch_norm = false, .num_outputs = num_outputs}, generator);
}

std::shared_ptr<VGG> vgg16_bn(std::int64_t num_outputs, Generator& generator) {
  return std::make_shared<VGG>(VGGSpec{.batch_norm = true, .num_outputs = num_outputs}, generator);
}

}  // namespace edat::models
