// The train / valid / test datasets of a run, from the dataset's own layout, label-file overrides, or seeded
// held-out parts:
//
//   appa-real             its train/ valid/ test/ splits (a --train/valid/test-csv replaces that split's labels)
//   --train-csv given     train from it; valid and test from --valid-csv / --test-csv, else valid is held out of
//                         the training list (--valid-fraction) and there is no test split
//   a folder walk         train / valid / test held out of all images (1 - v - t, --valid-fraction, --test-fraction)
//
// Held-out parts are seeded (--seed) and identity-disjoint where the dataset knows identities (CACD celebrities).
#pragma once
#include <memory>
#include <string>

#include "data/dataset.h"
#include "data/transforms.h"
#include "train/config.h"

namespace edat::train {

struct Splits {
  std::unique_ptr<data::Dataset> train, valid, test;  // test may be null
  std::string description;                            // one line per split: where it came from, its size
};

Splits open_splits(const TrainConfig& config);

// The median age of a dataset (the constant prediction with the smallest mean absolute error on it).
double median_age(const data::Dataset& dataset);

// The evaluation transform: resize the shorter side to resize, centre crop img_size (then normalise, in the loader).
data::Compose eval_transforms(std::int64_t img_size, std::int64_t resize);
// The training transform: resize, random crop, flip, rotation and colour jitter as configured (or the evaluation
// transform with --no-augment).
data::Compose train_transforms(const TrainConfig& config);

}  // namespace edat::train
