// Saving and resuming an optimizer (and its learning-rate schedule) in one safetensors file: the state tensors as
// tensors ("exp_avg/conv1.weight" ...), the JSON of Optimizer::state() and LRScheduler::state_json() as the header's
// metadata ("edat.optimizer", "edat.scheduler"). Python's safetensors package reads it too.
#pragma once

#include <string>

#include "optim/optimizer.h"
#include "optim/schedules.h"

namespace edat::optim {

void save_state(const std::string& path, const Optimizer& optimizer, const LRScheduler* scheduler = nullptr);
// Restores what save_state wrote; edat::Error (naming the file) when the file is not an optimizer state, is of another
// optimizer or model (the first differing parameter is named), or lacks the scheduler asked for.
void load_state(const std::string& path, Optimizer& optimizer, LRScheduler* scheduler = nullptr);

}  // namespace edat::optim
