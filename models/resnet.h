// ResNet-18, -34 and -50 with exactly torchvision's structure, parameter names, shapes and initialisation
// (torchvision.models.resnet, "v1.5": in a Bottleneck the stride sits on the 3x3 convolution).
//
//   conv1 7x7/2 -> bn1 -> relu -> maxpool 3x3/2 -> layer1..layer4 -> avgpool (1x1) -> flatten [-> dropout] -> fc
//
// layerN is a Sequential of blocks; its first block changes the stride (layers 2-4: 2) and, when the shape changes,
// carries a `downsample` branch (1x1 conv + batch norm) on the identity path.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "layers/modules.h"
#include "models/backbone.h"

namespace edat::models {

// out = relu(bn2(conv2(relu(bn1(conv1(x))))) + identity), 3x3 convolutions; expansion 1.
class BasicBlock : public nn::Module {
 public:
  static constexpr std::int64_t kExpansion = 1;
  BasicBlock(std::int64_t in, std::int64_t planes, std::int64_t stride, std::shared_ptr<nn::Module> downsample,
             Generator& generator);
  Tensor forward(const Tensor& x) override;

 private:
  std::shared_ptr<nn::Module> conv1_, bn1_, relu_, conv2_, bn2_, downsample_;
};

// out = relu(bn3(conv3(relu(bn2(conv2(relu(bn1(conv1(x)))))))) + identity): 1x1 reduce, 3x3 (strided), 1x1
// expand to 4 x planes.
class Bottleneck : public nn::Module {
 public:
  static constexpr std::int64_t kExpansion = 4;
  Bottleneck(std::int64_t in, std::int64_t planes, std::int64_t stride, std::shared_ptr<nn::Module> downsample,
             Generator& generator);
  Tensor forward(const Tensor& x) override;

 private:
  std::shared_ptr<nn::Module> conv1_, bn1_, conv2_, bn2_, conv3_, bn3_, relu_, downsample_;
};

enum class BlockKind { basic, bottleneck };

struct ResNetSpec {
  BlockKind block = BlockKind::basic;
  std::vector<std::int64_t> layers = {3, 4, 6, 3};  // blocks per stage
  std::int64_t num_outputs = 1000;                  // 1 for age regression
};

class ResNet : public Backbone {
 public:
  explicit ResNet(const ResNetSpec& spec, Generator& generator = default_generator());
  Tensor forward(const Tensor& x) override;  // x (N, 3, H, W) -> (N, num_outputs)
  // "resnet18", "resnet34", "resnet50" (by the spec; "resnet" for another block layout).
  std::string arch() const override;
  // Everything up to the pooled, flattened features (N, 512 or 2048): what a new head sees.
  Tensor features(const Tensor& x) override;
  std::int64_t feature_count() const override { return feature_count_; }
  std::string head_name() const override { return "fc"; }
  const ResNetSpec& spec() const { return spec_; }

  // The head is the child "fc": torchvision's Linear by default. set_head swaps in another module that maps the
  // (N, feature_count()) features to outputs (e.g. models::CoralHead); its tensors are named fc.* as well.
  void set_head(std::shared_ptr<nn::Module> head) override;
  nn::Module& head() override { return *fc_; }
  // Dropout with probability p on the features, before the head (0 removes it). It is a child named "dropout"
  // placed before "fc"; having no tensors, it leaves the state dict, and so torchvision's fc.* names, unchanged.
  void set_head_dropout(double p, Generator& generator = default_generator()) override;
  double head_dropout() const override { return head_dropout_; }

 private:
  std::shared_ptr<nn::Module> make_layer(std::int64_t planes, std::int64_t blocks, std::int64_t stride,
                                         Generator& generator);
  ResNetSpec spec_;
  std::int64_t in_ = 64;
  std::int64_t feature_count_ = 0;
  std::shared_ptr<nn::Module> conv1_, bn1_, relu_, maxpool_, layer1_, layer2_, layer3_, layer4_, avgpool_, fc_;
  std::shared_ptr<nn::Module> dropout_;  // null without head dropout
  double head_dropout_ = 0;
};

std::shared_ptr<ResNet> resnet18(std::int64_t num_outputs = 1000, Generator& generator = default_generator());
std::shared_ptr<ResNet> resnet34(std::int64_t num_outputs = 1000, Generator& generator = default_generator());
std::shared_ptr<ResNet> resnet50(std::int64_t num_outputs = 1000, Generator& generator = default_generator());
// "resnet18" | "resnet34" | "resnet50"; anything else is an edat::Error listing the names.
std::shared_ptr<ResNet> make_resnet(const std::string& name, std::int64_t num_outputs,
                                    Generator& generator = default_generator());

}  // namespace edat::models
