// An exponential moving average of a model's weights (--ema DECAY), as timm's ModelEmaV2 keeps it: after every
// optimizer step, for every floating-point tensor of the state dict (parameters and batch-norm statistics alike),
//
//   average = decay * average + (1 - decay) * current        (integer buffers, num_batches_tracked, are copied)
//
// so the average spans about 1 / (1 - decay) of the latest steps. It smooths the noise of the last steps away and
// often validates better than the weights themselves; the trainer validates both each epoch and keeps the better as
// best.safetensors. The average is part of the checkpoint (ema/<name>), so a resumed run continues it exactly.
#pragma once
#include <string>

#include "layers/module.h"
#include "models/backbone.h"

namespace edat::train {

class WeightAverage {
 public:
  // Starts as a copy of the model's state (on the model's device).
  WeightAverage(const models::Backbone& model, double decay);

  void update(const models::Backbone& model);  // after an optimizer step
  const nn::NamedTensors& state() const { return average_; }
  // Replaces the average with `state` (from a checkpoint: any order); edat::Error naming `source` when its names or
  // shapes are not the model's.
  void load(const nn::NamedTensors& state, const std::string& source);

  // Swaps the average into the model (and the model's own weights into this object): call twice to swap back.
  void swap_with(models::Backbone& model);

 private:
  double decay_;
  nn::NamedTensors average_;  // the model's state_dict() names and order
};

}  // namespace edat::train
