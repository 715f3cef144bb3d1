#include "train/weight_average.h"

#include <map>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "tensor/error.h"

namespace edat::train {

WeightAverage::WeightAverage(const models::Backbone& model, double decay) : decay_(decay) {
  EDAT_CHECK(decay > 0 && decay < 1, "--ema: the decay must be in (0, 1), got " << decay);
  for (const auto& [name, tensor] : model.state_dict()) average_.emplace_back(name, tensor.clone());
}

void WeightAverage::update(const models::Backbone& model) {
  NoGradGuard no_grad;
  const nn::NamedTensors current = model.state_dict();
  for (std::size_t i = 0; i < average_.size(); ++i) {
    Tensor& average = average_[i].second;
    const Tensor& now = current[i].second;
    if (is_floating(average.dtype())) {
      average.copy_(average * decay_ + now * (1 - decay_));
    } else {
      average.copy_(now);
    }
  }
}

void WeightAverage::load(const nn::NamedTensors& state, const std::string& source) {
  EDAT_CHECK(state.size() == average_.size(), source << ": the weight average holds " << state.size()
                                                     << " tensors, the model " << average_.size());
  std::map<std::string, const Tensor*> by_name;  // files list tensors by name, not in the model's order
  for (const auto& [name, tensor] : state) by_name[name] = &tensor;
  NoGradGuard no_grad;
  for (auto& [name, average] : average_) {
    const auto found = by_name.find(name);
    EDAT_CHECK(found != by_name.end(), source << ": the weight average has no tensor '" << name << "'");
    EDAT_CHECK(found->second->shape() == average.shape(), source << ": the weight average's '" << name << "' is "
                                                                 << found->second->desc() << ", the model's "
                                                                 << average.desc());
    average.copy_(found->second->to(average.device()));
  }
}

void WeightAverage::swap_with(models::Backbone& model) {
  NoGradGuard no_grad;
  const nn::NamedTensors current = model.state_dict();
  for (std::size_t i = 0; i < average_.size(); ++i) {
    const Tensor own = current[i].second.clone();
    current[i].second.copy_(average_[i].second);
    average_[i].second.copy_(own);
  }
}

}  // namespace edat::train
