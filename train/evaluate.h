// Running a trained network over a dataset in evaluation mode: every image's true and predicted age, and the
// mean loss. train_resnet uses it for the validation split each epoch and the test split at the end;
// evaluate_age for any split.
#pragma once
#include <string>
#include <vector>

#include "data/dataset.h"
#include "data/loader.h"
#include "models/backbone.h"
#include "track/metrics.h"
#include "train/objective.h"

namespace edat::train {

struct Predictions {
  std::vector<std::size_t> indices;  // in the dataset
  std::vector<std::string> paths;
  std::vector<double> truth, predicted;
  double mean_loss = 0;  // the objective's loss, averaged over the images
  // MAE, RMSE, CS(5) and MAE per 10-year bucket of the true age.
  track::AgeMetrics metrics() const { return track::age_metrics(truth, predicted); }
};

// Evaluation transform (resize + centre crop, as in the description), no shuffling; `loader_options` gives the
// batch size, workers and device (and the shard: this process's part of each batch, which may be empty). With `tta_flip` each age is the mean of the image's and its mirror image's (the
// loss stays the plain images'). The model is left in the mode it was in.
Predictions predict_dataset(models::Backbone& model, const AgeObjective& objective, const data::Dataset& dataset,
                            data::LoaderOptions loader_options, bool tta_flip = false);

// Images as the network's input batch f32 (N, 3, size, size) on the CPU: `transforms` (the evaluation transform,
// eval_transforms: resize, centre crop to size), then ImageNet normalisation (data::Normalize). predict_age's input.
Tensor eval_batch(const std::vector<data::Image>& images, const data::Compose& transforms, std::int64_t size);

// Images (N, C, H, W) mirrored left to right, on their device.
Tensor mirrored(const Tensor& images);
// Test-time augmentation: `ages` (AgeObjective::raw_ages of `images`) become the mean of theirs and their mirror
// images'. Clamp them afterwards (AgeObjective::clamp).
void average_with_mirror(models::Backbone& model, const AgeObjective& objective, const Tensor& images,
                         std::vector<double>& ages);

}  // namespace edat::train
