#include "models/resnet.h"

#include "autograd/ops.h"
#include "models/init.h"

namespace edat::models {

namespace {

// Bias-free convolutions, kaiming-normal (fan-out) as torchvision re-initialises them; batch norms keep weight 1,
// bias 0.
std::shared_ptr<nn::Conv2d> conv(std::int64_t in, std::int64_t out, std::int64_t kernel, std::int64_t stride,
                                 std::int64_t padding, Generator& generator) {
  return kaiming_conv(
      {.in = in, .out = out, .kernel = kernel, .stride = stride, .padding = padding, .bias = false}, generator);
}

std::shared_ptr<nn::Module> bn(std::int64_t features) { return std::make_shared<nn::BatchNorm2d>(features); }

}  // namespace

BasicBlock::BasicBlock(std::int64_t in, std::int64_t planes, std::int64_t stride,
                       std::shared_ptr<nn::Module> downsample, Generator& generator)
    : Module("BasicBlock") {
  conv1_ = register_module("conv1", conv(in, planes, 3, stride, 1, generator));
  bn1_ = register_module("bn1", bn(planes));
  relu_ = register_module("relu", std::make_shared<nn::ReLU>());
  conv2_ = register_module("conv2", conv(planes, planes, 3, 1, 1, generator));
  bn2_ = register_module("bn2", bn(planes));
  if (downsample) downsample_ = register_module("downsample", std::move(downsample));
}

// The relu child is called, as torchvision calls self.relu: the module tree shows what forward runs.
Tensor BasicBlock::forward(const Tensor& x) {
  nn::Module& relu = *relu_;
  Tensor out = relu((*bn1_)((*conv1_)(x)));
  out = (*bn2_)((*conv2_)(out));
  const Tensor identity = downsample_ ? (*downsample_)(x) : x;
  return relu(out + identity);
}

Bottleneck::Bottleneck(std::int64_t in, std::int64_t planes, std::int64_t stride,
                       std::shared_ptr<nn::Module> downsample, Generator& generator)
    : Module("Bottleneck") {
  conv1_ = register_module("conv1", conv(in, planes, 1, 1, 0, generator));
  bn1_ = register_module("bn1", bn(planes));
  conv2_ = register_module("conv2", conv(planes, planes, 3, stride, 1, generator));
  bn2_ = register_module("bn2", bn(planes));
  conv3_ = register_module("conv3", conv(planes, planes * kExpansion, 1, 1, 0, generator));
  bn3_ = register_module("bn3", bn(planes * kExpansion));
  relu_ = register_module("relu", std::make_shared<nn::ReLU>());
  if (downsample) downsample_ = register_module("downsample", std::move(downsample));
}

Tensor Bottleneck::forward(const Tensor& x) {
  nn::Module& relu = *relu_;
  Tensor out = relu((*bn1_)((*conv1_)(x)));
  out = relu((*bn2_)((*conv2_)(out)));
  out = (*bn3_)((*conv3_)(out));
  const Tensor identity = downsample_ ? (*downsample_)(x) : x;
  return relu(out + identity);
}

ResNet::ResNet(const ResNetSpec& spec, Generator& generator) : Backbone("ResNet"), spec_(spec) {
  EDAT_CHECK(spec.layers.size() == 4, "ResNet: expects 4 stages, got " << spec.layers.size());
  EDAT_CHECK(spec.num_outputs > 0, "ResNet: num_outputs must be positive, got " << spec.num_outputs);
  conv1_ = register_module("conv1", conv(3, 64, 7, 2, 3, generator));
  bn1_ = register_module("bn1", bn(64));
  relu_ = register_module("relu", std::make_shared<nn::ReLU>());
  maxpool_ = register_module("maxpool", std::make_shared<nn::MaxPool2d>(3, 2, 1));
  layer1_ = register_module("layer1", make_layer(64, spec.layers[0], 1, generator));
  layer2_ = register_module("layer2", make_layer(128, spec.layers[1], 2, generator));
  layer3_ = register_module("layer3", make_layer(256, spec.layers[2], 2, generator));
  layer4_ = register_module("layer4", make_layer(512, spec.layers[3], 2, generator));
  avgpool_ = register_module("avgpool", std::make_shared<nn::AdaptiveAvgPool2d>(1, 1));
  feature_count_ = in_;
  fc_ = register_module("fc", std::make_shared<nn::Linear>(in_, spec.num_outputs, true, generator));
}

std::shared_ptr<nn::Module> ResNet::make_layer(std::int64_t planes, std::int64_t blocks, std::int64_t stride,
                                               Generator& generator) {
  const std::int64_t expansion = spec_.block == BlockKind::basic ? BasicBlock::kExpansion : Bottleneck::kExpansion;
  auto layer = std::make_shared<nn::Sequential>();
  for (std::int64_t b = 0; b < blocks; ++b) {
    const std::int64_t block_stride = b == 0 ? stride : 1;
    std::shared_ptr<nn::Module> downsample;
    if (b == 0 && (stride != 1 || in_ != planes * expansion)) {
      downsample = std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{
          conv(in_, planes * expansion, 1, stride, 0, generator), bn(planes * expansion)});
    }
    if (spec_.block == BlockKind::basic) {
      layer->push_back(std::make_shared<BasicBlock>(in_, planes, block_stride, downsample, generator));
    } else {
      layer->push_back(std::make_shared<Bottleneck>(in_, planes, block_stride, downsample, generator));
    }
    in_ = planes * expansion;
  }
  return layer;
}

std::string ResNet::arch() const {
  const bool basic = spec_.block == BlockKind::basic;
  if (basic && spec_.layers == std::vector<std::int64_t>{2, 2, 2, 2}) return "resnet18";
  if (spec_.layers == std::vector<std::int64_t>{3, 4, 6, 3}) return basic ? "resnet34" : "resnet50";
  return "resnet";
}

Tensor ResNet::features(const Tensor& x) {
  EDAT_CHECK(x.dim() == 4 && x.size(1) == 3,
             "ResNet: expects images (N, 3, H, W), got " << x.desc());
  Tensor y = (*maxpool_)((*relu_)((*bn1_)((*conv1_)(x))));
  y = (*layer4_)((*layer3_)((*layer2_)((*layer1_)(y))));
  return flatten((*avgpool_)(y), 1);
}

Tensor ResNet::forward(const Tensor& x) {
  Tensor features_out = features(x);
  if (dropout_) features_out = (*dropout_)(features_out);
  return (*fc_)(features_out);
}

void ResNet::set_head(std::shared_ptr<nn::Module> head) {
  EDAT_CHECK(head != nullptr, "ResNet::set_head: the head is null");
  head->train(is_training());
  fc_ = head;
  set_module("fc", std::move(head));
}

void ResNet::set_head_dropout(double p, Generator& generator) {
  EDAT_CHECK(p >= 0 && p < 1, "ResNet: head dropout must be in [0, 1), got " << p);
  head_dropout_ = p;
  dropout_ = p > 0 ? std::make_shared<nn::Dropout>(p, generator) : nullptr;
  if (dropout_) dropout_->train(is_training());
  set_module("dropout", dropout_, "fc");
}

std::shared_ptr<ResNet> resnet18(std::int64_t num_outputs, Generator& generator) {
  return std::make_shared<ResNet>(ResNetSpec{BlockKind::basic, {2, 2, 2, 2}, num_outputs}, generator);
}
std::shared_ptr<ResNet> resnet34(std::int64_t num_outputs, Generator& generator) {
  return std::make_shared<ResNet>(ResNetSpec{BlockKind::basic, {3, 4, 6, 3}, num_outputs}, generator);
}
std::shared_ptr<ResNet> resnet50(std::int64_t num_outputs, Generator& generator) {
  return std::make_shared<ResNet>(ResNetSpec{BlockKind::bottleneck, {3, 4, 6, 3}, num_outputs}, generator);
}

std::shared_ptr<ResNet> make_resnet(const std::string& name, std::int64_t num_outputs, Generator& generator) {
  if (name == "resnet18") return resnet18(num_outputs, generator);
  if (name == "resnet34") return resnet34(num_outputs, generator);
  if (name == "resnet50") return resnet50(num_outputs, generator);
  throw Error("unknown architecture '" + name + "': expected resnet18, resnet34 or resnet50");
}

}  // namespace edat::models
