#include "models/classifier_backbone.h"

namespace edat::models {

void ClassifierBackbone::register_classifier(std::vector<std::shared_ptr<nn::Module>> modules) {
  const auto* dropout = modules.size() >= 2 ? dynamic_cast<const nn::Dropout*>(modules[modules.size() - 2].get())
                                            : nullptr;
  EDAT_CHECK(dropout != nullptr, type_name() << ": the classifier must end with a Dropout and the head");
  head_dropout_ = dropout->p();
  classifier_ = std::make_shared<nn::Sequential>();
  for (const auto& module : modules) classifier_->push_back(module);
  modules_ = std::move(modules);
  register_module("classifier", classifier_);
}

Tensor ClassifierBackbone::classifier_body(const Tensor& x) {
  Tensor y = x;
  for (std::size_t i = 0; i + 2 < modules_.size(); ++i) y = (*modules_[i])(y);
  return y;
}

Tensor ClassifierBackbone::forward(const Tensor& x) {
  const std::size_t n = modules_.size();
  return (*modules_[n - 1])((*modules_[n - 2])(features(x)));
}

void ClassifierBackbone::set_head(std::shared_ptr<nn::Module> head) {
  EDAT_CHECK(head != nullptr, type_name() << "::set_head: the head is null");
  head->train(is_training());
  modules_.back() = head;
  classifier_->set(modules_.size() - 1, std::move(head));
}

void ClassifierBackbone::set_head_dropout(double p, Generator& generator) {
  EDAT_CHECK(p >= 0 && p < 1, type_name() << ": head dropout must be in [0, 1), got " << p);
  auto dropout = std::make_shared<nn::Dropout>(p, generator);
  dropout->train(is_training());
  head_dropout_ = p;
  modules_[modules_.size() - 2] = dropout;
  classifier_->set(modules_.size() - 2, std::move(dropout));
}

}  // namespace edat::models
