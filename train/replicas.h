// What keeps the replicas of data-parallel training (dist/, mpirun) one model: the same settings, rank 0's weights
// at the start, a check after the first step that every process's parameters are still bit-identical, and the
// evaluation of a split spread over the processes and gathered so that its metrics are a single process's.
// With one process every function returns at once (or its input).
#pragma once
#include "data/dataset.h"
#include "dist/communicator.h"
#include "models/backbone.h"
#include "train/config.h"
#include "train/evaluate.h"

namespace edat::train {

// Rank 0's settings against this process's: edat::Error naming the settings that differ. A run folder left to its
// default (empty config.out) takes rank 0's.
void agree_on_settings(dist::Communicator& comm, TrainConfig& config);
// Rank 0's parameters and buffers (or buffers only) overwrite every other process's.
void share_rank0_state(dist::Communicator& comm, models::Backbone& model, bool buffers_only = false);
// edat::Error naming the processes whose parameters differ from rank 0's (compared through a hash of their bytes).
void check_replicas_equal(dist::Communicator& comm, models::Backbone& model);
// Every process's predictions of its shard of `dataset`, in the dataset's order, with the mean loss over all.
Predictions gather_predictions(dist::Communicator& comm, const Predictions& mine, const data::Dataset& dataset);

}  // namespace edat::train
