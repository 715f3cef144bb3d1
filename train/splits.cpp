#include "train/splits.h"

#include <algorithm>
#include <sstream>

#include "data/datasets.h"
#include "data/split.h"
#include "tensor/error.h"

namespace edat::train {

namespace {

data::DatasetOptions dataset_options(const TrainConfig& config, const std::string& csv, const std::string& split) {
  data::DatasetOptions options;
  options.root = config.data_root;
  options.csv = csv;
  options.split = split;
  options.target = config.target == "real" ? data::AppaTarget::real : data::AppaTarget::apparent;
  return options;
}

std::unique_ptr<data::Dataset> part(const data::Dataset& all, const std::vector<std::size_t>& indices,
                                    const std::string& name) {
  EDAT_CHECK(!indices.empty(), all.name() << ": the " << name << " part held out is empty (" << all.size()
                                          << " samples); use a larger dataset or other --valid/test-fraction");
  return std::make_unique<data::ListDataset>(all.name() + "[" + name + "]", data::select_samples(all, indices));
}

bool has_groups(const data::Dataset& dataset) {
  for (std::size_t i = 0; i < dataset.size(); ++i)
    if (!dataset.sample(i).group.empty()) return true;
  return false;
}

}  // namespace

Splits open_splits(const TrainConfig& config) {
  Splits splits;
  const std::uint64_t seed = static_cast<std::uint64_t>(config.seed);
  if (config.dataset == "appa-real") {
    splits.train = data::open_dataset("appa-real", dataset_options(config, config.train_csv, "train"));
    splits.valid = data::open_dataset("appa-real", dataset_options(config, config.valid_csv, "valid"));
    splits.test = data::open_dataset("appa-real", dataset_options(config, config.test_csv, "test"));
  } else if (!config.train_csv.empty()) {
    std::unique_ptr<data::Dataset> listed =
        data::open_dataset(config.dataset, dataset_options(config, config.train_csv, "train"));
    if (!config.valid_csv.empty()) {
      splits.train = std::move(listed);
      splits.valid = data::open_dataset(config.dataset, dataset_options(config, config.valid_csv, "valid"));
    } else {
      const double v = config.valid_fraction;
      EDAT_CHECK(v > 0, "--valid-fraction is 0 and no --valid-csv was given: there is nothing to validate on");
      const data::SplitIndices cut = data::split_dataset(*listed, {1 - v, v, 0}, seed, has_groups(*listed));
      splits.train = part(*listed, cut.train, "train");
      splits.valid = part(*listed, cut.valid, "valid");
    }
    if (!config.test_csv.empty())
      splits.test = data::open_dataset(config.dataset, dataset_options(config, config.test_csv, "test"));
  } else {
    EDAT_CHECK(config.valid_csv.empty() && config.test_csv.empty(),
               "--valid-csv/--test-csv need --train-csv too for --dataset " << config.dataset);
    std::unique_ptr<data::Dataset> all = data::open_dataset(config.dataset, dataset_options(config, "", "train"));
    const double v = config.valid_fraction, t = config.test_fraction;
    EDAT_CHECK(v > 0, "--valid-fraction must be positive when the validation part is held out of the images");
    const data::SplitIndices cut = data::split_dataset(*all, {1 - v - t, v, t}, seed, has_groups(*all));
    splits.train = part(*all, cut.train, "train");
    splits.valid = part(*all, cut.valid, "valid");
    if (t > 0) splits.test = part(*all, cut.test, "test");
  }
  std::ostringstream out;
  out << "train " << splits.train->name() << ": " << splits.train->size() << " images; valid " << splits.valid->name()
      << ": " << splits.valid->size() << " images; test ";
  if (splits.test)
    out << splits.test->name() << ": " << splits.test->size() << " images";
  else if (!config.train_csv.empty() && config.test_fraction > 0)
    out << "none (--test-fraction holds out a test part of a folder walk only; give --test-csv)";
  else
    out << "none";
  splits.description = out.str();
  return splits;
}

double median_age(const data::Dataset& dataset) {
  std::vector<double> ages;
  ages.reserve(dataset.size());
  for (std::size_t i = 0; i < dataset.size(); ++i) ages.push_back(dataset.sample(i).age);
  EDAT_CHECK(!ages.empty(), "median age of the empty dataset " << dataset.name());
  std::sort(ages.begin(), ages.end());
  const std::size_t n = ages.size();
  return n % 2 ? ages[n / 2] : 0.5 * (ages[n / 2 - 1] + ages[n / 2]);
}

data::Compose eval_transforms(std::int64_t img_size, std::int64_t resize) {
  data::Compose compose;
  compose.add<data::Resize>(static_cast<int>(resize));
  compose.add<data::CenterCrop>(static_cast<int>(img_size), static_cast<int>(img_size));
  return compose;
}

data::Compose train_transforms(const TrainConfig& c) {
  if (c.no_augment) return eval_transforms(c.img_size, c.resize_size());
  data::Compose compose;
  const int size = static_cast<int>(c.img_size);
  compose.add<data::Resize>(static_cast<int>(c.resize_size()));
  if (c.rotation > 0) compose.add<data::RandomRotation>(static_cast<float>(c.rotation));
  compose.add<data::RandomCrop>(size, size);
  if (!c.no_flip) compose.add<data::RandomHorizontalFlip>();
  if (c.brightness > 0 || c.contrast > 0 || c.saturation > 0 || c.hue > 0) {
    compose.add<data::ColorJitter>(static_cast<float>(c.brightness), static_cast<float>(c.contrast),
                                   static_cast<float>(c.saturation), static_cast<float>(c.hue));
  }
  return compose;
}

}  // namespace edat::train
