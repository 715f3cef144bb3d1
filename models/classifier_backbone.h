// ClassifierBackbone: the Backbone plumbing shared by torchvision's MobileNetV2 and VGG, whose head is the last
// module of a Sequential child named "classifier", right after a Dropout:
//
//   MobileNetV2  classifier = [Dropout(0.2), Linear(1280, n)]                                       head classifier.1
//   VGG          classifier = [Linear, ReLU, Dropout, Linear, ReLU, Dropout(0.5), Linear(4096, n)]  head classifier.6
//
// "Head dropout" (Backbone::set_head_dropout) is that last Dropout, the one directly before the head: setting it
// replaces the module in place (same index, no tensors, so the state dict keeps torchvision's names); 0 makes it the
// identity. VGG's other dropout (classifier.2) belongs to the body and keeps the probability it was built with.
// features() is everything before that last Dropout; forward() = head(dropout(features(x))).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "layers/modules.h"
#include "models/backbone.h"

namespace edat::models {

class ClassifierBackbone : public Backbone {
 public:
  Tensor forward(const Tensor& x) override;
  std::string head_name() const override { return "classifier." + std::to_string(modules_.size() - 1); }
  nn::Module& head() override { return *modules_.back(); }
  void set_head(std::shared_ptr<nn::Module> head) override;
  void set_head_dropout(double p, Generator& generator = default_generator()) override;
  double head_dropout() const override { return head_dropout_; }

 protected:
  using Backbone::Backbone;
  // Registers the child "classifier" = Sequential(modules); the last two must be the Dropout and the head.
  void register_classifier(std::vector<std::shared_ptr<nn::Module>> modules);
  // The classifier's modules before its last Dropout, applied to the flattened body output (none for MobileNetV2).
  Tensor classifier_body(const Tensor& x);

 private:
  std::shared_ptr<nn::Sequential> classifier_;
  std::vector<std::shared_ptr<nn::Module>> modules_;  // the classifier's modules, in order
  double head_dropout_ = 0;
};

}  // namespace edat::models
