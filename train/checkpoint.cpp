#include "train/checkpoint.h"

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "layers/modules.h"
#include "tensor/error.h"
#include "track/crc32c.h"
#include "weights/safetensors.h"

namespace edat::train {

// EpochMetrics <-> JSON object with the field names as keys (nlohmann's to_json/from_json for the type).
// Checkpoints written before ema_valid_mae existed read it as its default.
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(EpochMetrics, epoch, step, train_loss, valid_loss, valid_mae,
                                                valid_rmse, lr, images_per_second, seconds, ema_valid_mae)

namespace {

using nlohmann::json;

// Doubles are written with 17 significant digits by nlohmann::json, so they read back bit for bit; infinity
// (no best model yet) is not JSON and is written as null.
json progress_json(const TrainProgress& p) {
  return {{"epoch", p.epoch},
          {"batch", p.batch},
          {"step", p.step},
          {"loss_sum", p.loss_sum},
          {"loss_count", p.loss_count},
          {"best_valid_mae", std::isfinite(p.best_valid_mae) ? json(p.best_valid_mae) : json(nullptr)},
          {"best_epoch", p.best_epoch},
          {"history", p.history},
          {"processes", p.processes}};
}

TrainProgress progress_from(const json& j) {
  TrainProgress p;
  p.epoch = j.at("epoch");
  p.batch = j.at("batch");
  p.step = j.at("step");
  p.loss_sum = j.at("loss_sum");
  p.loss_count = j.at("loss_count");
  p.best_valid_mae =
      j.at("best_valid_mae").is_null() ? std::numeric_limits<double>::infinity() : j.at("best_valid_mae").get<double>();
  p.best_epoch = j.at("best_epoch");
  p.history = j.at("history").get<std::vector<EpochMetrics>>();
  p.processes = j.value("processes", std::int64_t{1});  // checkpoints from before data-parallel training
  return p;
}

constexpr const char* checksum_key = "edat.checksum";

std::string tensors_checksum(const nn::NamedTensors& tensors) {
  std::vector<const std::pair<std::string, Tensor>*> sorted;
  for (const auto& entry : tensors) sorted.push_back(&entry);
  std::sort(sorted.begin(), sorted.end(), [](const auto* a, const auto* b) { return a->first < b->first; });
  std::uint32_t crc = 0;
  for (const auto* entry : sorted) {
    const Tensor host = entry->second.cpu();
    crc = track::crc32c(entry->first.data(), entry->first.size() + 1, crc);  // with its NUL: names stay apart
    crc = track::crc32c(host.raw_data(), host.nbytes(), crc);
  }
  char text[32];
  std::snprintf(text, sizeof text, "crc32c:%08x", crc);
  return text;
}

// The tensors, written with their checksum in the metadata.
void write_with_checksum(const std::string& path, const nn::NamedTensors& tensors,
                         std::map<std::string, std::string> metadata) {
  metadata[checksum_key] = tensors_checksum(tensors);
  weights::write_safetensors(path, tensors, metadata);
}

// Dropout modules draw their masks from their own generators: their positions are part of the run's state.
json generators_json(models::Backbone& model) {
  json generators = json::object();
  for (auto& [name, module] : model.named_modules()) {
    if (auto* dropout = dynamic_cast<nn::Dropout*>(module)) {
      generators[name] = {dropout->generator().seed(), dropout->generator().offset()};
    }
  }
  return generators;
}

void load_generators(models::Backbone& model, const json& generators, const std::string& path) {
  for (auto& [name, module] : model.named_modules()) {
    auto* dropout = dynamic_cast<nn::Dropout*>(module);
    if (dropout == nullptr) continue;
    EDAT_CHECK(generators.contains(name), path << ": no generator state for the dropout module '" << name << "'");
    const auto& state = generators.at(name);
    dropout->generator().set_state(state.at(0).get<std::uint64_t>(), state.at(1).get<std::uint64_t>());
  }
}

}  // namespace

void save_checkpoint(const std::string& path, models::Backbone& model, const optim::Optimizer& optimizer,
                     const optim::LRScheduler& scheduler, const TrainProgress& progress,
                     const ModelDescription& description, const WeightAverage* average) {
  nn::NamedTensors tensors;
  for (auto& [name, tensor] : model.state_dict()) tensors.emplace_back("model/" + name, tensor);
  if (average)
    for (auto& [name, tensor] : average->state()) tensors.emplace_back("ema/" + name, tensor);
  const optim::OptimizerState state = optimizer.state();
  for (auto& [name, tensor] : state.tensors) tensors.emplace_back("optimizer/" + name, tensor);
  auto metadata = description.metadata();
  metadata["edat.optimizer"] = state.json;
  metadata["edat.scheduler"] = scheduler.state_json();
  metadata["edat.progress"] = progress_json(progress).dump();
  metadata["edat.generators"] = generators_json(model).dump();
  write_with_checksum(path, tensors, metadata);
}

TrainProgress load_checkpoint(const std::string& path, models::Backbone& model, optim::Optimizer& optimizer,
                              optim::LRScheduler& scheduler, WeightAverage* average) {
  const weights::SafetensorsContents contents = weights::read_safetensors_with_metadata(path);
  for (const char* key : {"edat.optimizer", "edat.scheduler", "edat.progress", "edat.generators"}) {
    EDAT_CHECK(contents.metadata.contains(key), path << ": not an edat checkpoint (no " << key << " metadata)");
  }
  verify_checksum(contents, path);
  nn::NamedTensors model_state, average_state;
  optim::OptimizerState optimizer_state;
  for (const auto& [name, tensor] : contents.tensors) {
    if (name.rfind("model/", 0) == 0) {
      model_state.emplace_back(name.substr(6), tensor);
    } else if (name.rfind("optimizer/", 0) == 0) {
      optimizer_state.tensors.emplace_back(name.substr(10), tensor);
    } else if (name.rfind("ema/", 0) == 0) {
      average_state.emplace_back(name.substr(4), tensor);
    } else {
      throw Error(path + ": unexpected tensor '" + name + "' in a checkpoint");
    }
  }
  optimizer_state.json = contents.metadata.at("edat.optimizer");
  EDAT_CHECK(average || average_state.empty(), path << ": the checkpoint holds a weight average (--ema) but the run has none");
  EDAT_CHECK(!average || !average_state.empty(), path << ": the run has --ema but the checkpoint holds no weight average");
  try {
    model.load_state_dict(model_state);
    optimizer.load_state(optimizer_state);
    if (average) average->load(average_state, "ema/");
    scheduler.load_state_json(contents.metadata.at("edat.scheduler"));
    load_generators(model, json::parse(contents.metadata.at("edat.generators")), path);
    return progress_from(json::parse(contents.metadata.at("edat.progress")));
  } catch (const json::exception& e) {
    throw Error(path + ": damaged checkpoint metadata: " + e.what());
  } catch (const Error& e) {
    throw Error(path + ": " + e.what());
  }
}

void save_weights(const std::string& path, models::Backbone& model, const ModelDescription& description) {
  write_with_checksum(path, model.state_dict(), description.metadata());
}

void verify_checksum(const weights::SafetensorsContents& contents, const std::string& path) {
  const auto stored = contents.metadata.find(checksum_key);
  if (stored == contents.metadata.end()) return;
  const std::string actual = tensors_checksum(contents.tensors);
  EDAT_CHECK(actual == stored->second, path << ": the tensors do not match the checksum edat wrote with them ("
                                            << actual << ", the file says " << stored->second
                                            << "): the file was damaged after it was written");
}

}  // namespace edat::train
