// Backbone: what the application needs of a network, whatever its architecture (ResNet-18/34/50, MobileNetV2, VGG-16
// and VGG-16-BN): a body that turns images into one feature vector each, and a head (a
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
  // The head's module name in the state dict ("fc" for a ResNet, "classifier.1" for MobileNetV2, "classifier.6" for
  // VGG): what feature extraction trains; a pretrained file's head is skipped when its output count differs.
  virtual std::string head_name() const = 0;
  virtual nn::Module& head() = 0;
  // Swaps in another head mapping (N, feature_count()) features to outputs (e.g. models::CoralHead); its tensors
  // keep the head's names.
  virtual void set_head(std::shared_ptr<nn::Module> head) = 0;
  // Dropout with probability p right before the head; it holds no tensors, so the state dict's names stay
  // torchvision's. ResNet: an added child "dropout" (0 removes it; none by default). MobileNetV2 and VGG: the Dropout
  // torchvision already has there (classifier.0, p = 0.2 / classifier.5, p = 0.5 by default), 0 making it the
  // identity (classifier_backbone.h).
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
