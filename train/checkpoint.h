// Checkpoints: everything a run needs to continue exactly where it stopped, in one safetensors file written
// atomically (temporary file, fsync, rename: a crash mid-write leaves the previous checkpoint intact).
//
//   tensors   model/<state-dict name>       parameters and buffers (batch-norm statistics)
//             optimizer/<slot>/<parameter>  momentum buffers, Adam moments
//             ema/<state-dict name>         the weight average (--ema, train/weight_average.h)
//   metadata  edat.optimizer, edat.scheduler  their JSON states (optim/optimizer.h, optim/schedules.h)
//             edat.progress                   TrainProgress below, as JSON
//             edat.arch, edat.loss, ...       the model description (train/objective.h)
#pragma once
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "models/backbone.h"
#include "optim/optimizer.h"
#include "optim/schedules.h"
#include "train/objective.h"
#include "train/weight_average.h"
#include "weights/safetensors.h"

namespace edat::train {

// One epoch's line of metrics.csv.
struct EpochMetrics {
  std::int64_t epoch = 0;  // 1-based, as printed
  std::int64_t step = 0;   // optimizer steps in all at the epoch's end
  double train_loss = 0, valid_loss = 0, valid_mae = 0, valid_rmse = 0, lr = 0;
  double images_per_second = 0, seconds = 0;
  double ema_valid_mae = -1;  // --ema: the weight average's valid MAE; -1: no average

  // best.safetensors keeps the better of the weights and their average (--ema), by valid MAE.
  bool average_is_better() const { return ema_valid_mae >= 0 && ema_valid_mae < valid_mae; }
  double better_mae() const { return average_is_better() ? ema_valid_mae : valid_mae; }
};

// Where a run is: the loader position, the running training loss of the epoch in progress, the best model so far,
// the state of every random generator that advances during training (dropout), and the metrics so far.
struct TrainProgress {
  std::int64_t epoch = 0;  // the epoch in progress (0-based)
  std::int64_t batch = 0;  // its batches already trained
  std::int64_t step = 0;   // optimizer steps in all
  double loss_sum = 0;     // sum over the epoch's trained images of their loss
  std::int64_t loss_count = 0;
  double best_valid_mae = std::numeric_limits<double>::infinity();
  std::int64_t best_epoch = 0;  // 1-based; 0: none yet
  std::vector<EpochMetrics> history;
  std::int64_t processes = 1;  // data-parallel processes of the run that wrote it (mpirun -np)
};

void save_checkpoint(const std::string& path, models::Backbone& model, const optim::Optimizer& optimizer,
                     const optim::LRScheduler& scheduler, const TrainProgress& progress,
                     const ModelDescription& description, const WeightAverage* average = nullptr);
// Restores what save_checkpoint wrote into a model, optimizer, scheduler (and weight average, given one exactly when
// the run has --ema) built with the same configuration; edat::Error naming the file when it is not a checkpoint or
// belongs to another model.
TrainProgress load_checkpoint(const std::string& path, models::Backbone& model, optim::Optimizer& optimizer,
                              optim::LRScheduler& scheduler, WeightAverage* average = nullptr);

// The weights alone (best.safetensors, final.safetensors): the state dict with the description as metadata.
void save_weights(const std::string& path, models::Backbone& model, const ModelDescription& description);

// Every file edat writes here carries edat.checksum, a CRC-32C of its tensors (names and bytes, in name order), so
// bytes flipped on disk are found when the file is read back (resume, evaluate_age, predict_age) instead of
// trained or evaluated on. Throws naming the file on a mismatch; files without the key (other writers) pass.
void verify_checksum(const weights::SafetensorsContents& contents, const std::string& path);

}  // namespace edat::train
