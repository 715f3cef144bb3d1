#include "models/mobilenet_v2.h"

#include "autograd/ops.h"
#include "models/init.h"

namespace edat::models {

namespace {

// torchvision's Conv2dNormActivation with ReLU6: a bias-free convolution with "same" padding ((k - 1) / 2), batch
// norm, ReLU6, as children 0, 1, 2.
std::shared_ptr<nn::Module> conv_bn_relu6(std::int64_t in, std::int64_t out, std::int64_t kernel, std::int64_t stride,
                                          std::int64_t groups, Generator& generator) {
  return std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{
      kaiming_conv({.in = in,
                    .out = out,
                    .kernel = kernel,
                    .stride = stride,
                    .padding = (kernel - 1) / 2,
                    .groups = groups,
                    .bias = false},
                   generator),
      std::make_shared<nn::BatchNorm2d>(out), std::make_shared<nn::ReLU6>()});
}

struct Stage {
  std::int64_t expand_ratio, channels, blocks, stride;  // t, c, n, s
};
constexpr Stage kStages[] = {{1, 16, 1, 1}, {6, 24, 2, 2},  {6, 32, 3, 2}, {6, 64, 4, 2},
                             {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};
constexpr std::int64_t kStemChannels = 32;

}  // namespace

InvertedResidual::InvertedResidual(std::int64_t in, std::int64_t out, std::int64_t stride, std::int64_t expand_ratio,
                                   Generator& generator)
    : Module("InvertedResidual"), residual_(stride == 1 && in == out) {
  const std::int64_t hidden = in * expand_ratio;
  auto conv = std::make_shared<nn::Sequential>();
  if (expand_ratio != 1) conv->push_back(conv_bn_relu6(in, hidden, 1, 1, 1, generator));
  conv->push_back(conv_bn_relu6(hidden, hidden, 3, stride, hidden, generator));  // depthwise
  // The projection is linear (no activation): ReLU on a low-dimensional bottleneck would destroy information.
  conv->push_back(kaiming_conv({.in = hidden, .out = out, .kernel = 1, .bias = false}, generator));
  conv->push_back(std::make_shared<nn::BatchNorm2d>(out));
  conv_ = register_module("conv", conv);
}

Tensor InvertedResidual::forward(const Tensor& x) { return residual_ ? x + (*conv_)(x) : (*conv_)(x); }

MobileNetV2::MobileNetV2(const MobileNetV2Spec& spec, Generator& generator) : ClassifierBackbone("MobileNetV2") {
  EDAT_CHECK(spec.num_outputs > 0, "MobileNetV2: num_outputs must be positive, got " << spec.num_outputs);
  auto features = std::make_shared<nn::Sequential>();
  features->push_back(conv_bn_relu6(3, kStemChannels, 3, 2, 1, generator));
  std::int64_t in = kStemChannels;
  for (const Stage& stage : kStages) {
    for (std::int64_t b = 0; b < stage.blocks; ++b) {
      features->push_back(
          std::make_shared<InvertedResidual>(in, stage.channels, b == 0 ? stage.stride : 1, stage.expand_ratio, generator));
      in = stage.channels;
    }
  }
  features->push_back(conv_bn_relu6(in, kLastChannels, 1, 1, 1, generator));
  features_ = register_module("features", features);
  register_classifier({std::make_shared<nn::Dropout>(spec.dropout, generator),
                       small_normal_linear(kLastChannels, spec.num_outputs, generator)});
}

Tensor MobileNetV2::features(const Tensor& x) {
  EDAT_CHECK(x.dim() == 4 && x.size(1) == 3, "MobileNetV2: expects images (N, 3, H, W), got " << x.desc());
  return classifier_body(flatten(nn::adaptive_avg_pool2d((*features_)(x), 1, 1), 1));
}

std::shared_ptr<MobileNetV2> mobilenet_v2(std::int64_t num_outputs, Generator& generator) {
  return std::make_shared<MobileNetV2>(MobileNetV2Spec{.num_outputs = num_outputs}, generator);
}

}  // namespace edat::models
