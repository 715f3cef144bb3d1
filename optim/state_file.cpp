#include "optim/state_file.h"

#include "weights/safetensors.h"

namespace edat::optim {

namespace {
constexpr const char* kOptimizerKey = "edat.optimizer";
constexpr const char* kSchedulerKey = "edat.scheduler";
}  // namespace

void save_state(const std::string& path, const Optimizer& optimizer, const LRScheduler* scheduler) {
  OptimizerState state = optimizer.state();
  std::map<std::string, std::string> metadata{{kOptimizerKey, state.json}};
  if (scheduler) metadata[kSchedulerKey] = scheduler->state_json();
  weights::write_safetensors(path, state.tensors, metadata);
}

void load_state(const std::string& path, Optimizer& optimizer, LRScheduler* scheduler) {
  weights::SafetensorsContents contents = weights::read_safetensors_with_metadata(path);
  auto found = contents.metadata.find(kOptimizerKey);
  EDAT_CHECK(found != contents.metadata.end(),
             path << ": not an optimizer state (no '" << kOptimizerKey << "' in the safetensors metadata)");
  try {
    optimizer.load_state({std::move(contents.tensors), found->second});
    if (scheduler) {
      auto schedule = contents.metadata.find(kSchedulerKey);
      EDAT_CHECK(schedule != contents.metadata.end(), "the file holds no learning-rate schedule state");
      scheduler->load_state_json(schedule->second);
    }
  } catch (const Error& e) {
    throw Error(path + ": " + e.what());
  }
}

}  // namespace edat::optim
