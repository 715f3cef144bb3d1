// MobileNetV2 (Sandler et al. 2018) with exactly torchvision's structure, parameter names, shapes and
// initialisation (torchvision.models.mobilenet_v2, width multiplier 1.0):
//
//   features.0        Conv 3x3/2 3->32, BN, ReLU6 (a Sequential: .0 conv, .1 bn, .2 ReLU6)
//   features.1..17    inverted residual blocks (t = expansion, c = out channels, n = blocks, s = first stride):
//                       t=1 c=16 n=1 s=1 | t=6 c=24 n=2 s=2 | t=6 c=32 n=3 s=2 | t=6 c=64 n=4 s=2
//                       t=6 c=96 n=3 s=1 | t=6 c=160 n=3 s=2 | t=6 c=320 n=1 s=1
//   features.18       Conv 1x1 320->1280, BN, ReLU6
//   global average pool, flatten -> classifier = [Dropout(0.2), Linear(1280, n)]   (head: classifier.1)
//
// An inverted residual block's `conv` Sequential: [expand 1x1 ConvBNReLU6 (only when t != 1)], depthwise 3x3
// ConvBNReLU6 (groups = channels, the block's stride), linear 1x1 projection conv, BN; its input is added when the
// stride is 1 and the channel count is kept. Initialisation: convolutions kaiming-normal (fan-out), batch norms 1/0,
// Linear N(0, 0.01) with bias 0.
#pragma once

#include <cstdint>
#include <memory>

#include "models/classifier_backbone.h"

namespace edat::models {

// x + conv(x) when `residual` (stride 1, in == out), else conv(x).
class InvertedResidual : public nn::Module {
 public:
  InvertedResidual(std::int64_t in, std::int64_t out, std::int64_t stride, std::int64_t expand_ratio,
                   Generator& generator);
  Tensor forward(const Tensor& x) override;
  bool residual() const { return residual_; }

 private:
  std::shared_ptr<nn::Module> conv_;
  bool residual_;
};

struct MobileNetV2Spec {
  std::int64_t num_outputs = 1000;
  double dropout = 0.2;  // classifier.0, torchvision's `dropout` argument
};

class MobileNetV2 : public ClassifierBackbone {
 public:
  explicit MobileNetV2(const MobileNetV2Spec& spec = {}, Generator& generator = default_generator());
  std::string arch() const override { return "mobilenet_v2"; }
  // (N, 3, H, W) -> the globally pooled 1280 features.
  Tensor features(const Tensor& x) override;
  std::int64_t feature_count() const override { return kLastChannels; }

  static constexpr std::int64_t kLastChannels = 1280;

 private:
  std::shared_ptr<nn::Module> features_;
};

std::shared_ptr<MobileNetV2> mobilenet_v2(std::int64_t num_outputs = 1000, Generator& generator = default_generator());

}  // namespace edat::models
