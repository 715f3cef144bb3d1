// Backbone: what the application needs of a network, whatever its architecture (ResNet-18/34/50; MobileNetV2 and
// VGG-16 join through the same interface): a body that turns images into one feature vector each, and a head (a
// replaceable module, by default torchvision's last Linear) that turns features into outputs, with optional dropout
// between them. Transfer modes (models/transfer.h), train_resnet and predict_age work on this interface only.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "layers/module.h"
#include "tensor/random.h"

namespace edat::models {

class Backbone : public nn::Module {
 public:
  explicit Backbone(std::string type_name) : nn::Module(std::move(type_name)) {}
  // The architecture's name as make_model knows it ("resnet34").
  virtual std::string arch() const = 0;
  // Everything up to the head's input: (N, 3, H, W) -> (N, feature_count()).
  virtual Tensor features(const Tensor& x) = 0;
  virtual std::int64_t feature_count() const = 0;
  // The head's module name in the state dict ("fc" for a ResNet): what feature extraction trains, and the prefix
  // a pretrained file's head is skipped under when its output count differs.
  virtual std::string head_name() const = 0;
  virtual nn::Module& head() = 0;
  // Swaps in another head mapping (N, feature_count()) features to outputs (e.g. models::CoralHead); its tensors
  // keep the head's names.
  virtual void set_head(std::shared_ptr<nn::Module> head) = 0;
  // Dropout with probability p right before the head (0 removes it); it holds no tensors, so the state dict's names
  // stay torchvision's.
  virtual void set_head_dropout(double p, Generator& generator = default_generator()) = 0;
  virtual double head_dropout() const = 0;
};

// Every architecture make_model builds, in the order --help lists them.
const std::vector<std::string>& architectures();

// A freshly initialised network (torchvision's initialisation) with `num_outputs` outputs; an unknown name is an
// edat::Error listing architectures().
std::shared_ptr<Backbone> make_model(const std::string& arch, std::int64_t num_outputs,
                                     Generator& generator = default_generator());

}  // namespace edat::models
