// Dataset: the interface between the datasets (data/datasets*.h: APPA-REAL, CACD, AFAD, UTKFace, CSV) and the
// loader (data/loader.h). A dataset is a list of labelled image files read once at construction; the loader decodes,
// augments and batches them. Keep it minimal: the loader needs only size(), sample(i).path and sample(i).age.
#pragma once

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

namespace edat::data {

// One labelled image.
struct Sample {
  std::string path{};   // the image file: absolute, or relative to the working directory (datasets join their root)
  float age = 0.0f;     // the regression target in years (real age, or apparent age where the dataset says so)
  int gender = -1;      // 0 male, 1 female, -1 unknown (AFAD folders 111/112, UTKFace names); informational only
  std::string group{};  // an identity key for identity-disjoint splits (e.g. the CACD celebrity name); may be empty
};

// A finite, immutable list of samples. Implementations fill `samples_` in their constructor (and may report rows
// read/skipped there); sample(i) must be safe to call from several threads at once (the loader's workers do).
class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual std::size_t size() const { return samples_.size(); }
  virtual const Sample& sample(std::size_t i) const { return samples_.at(i); }
  const std::string& name() const { return name_; }  // for messages: "utkface", "appa-real(train)" ...

 protected:
  Dataset() = default;
  explicit Dataset(std::string name) : name_(std::move(name)) {}
  std::string name_;
  std::vector<Sample> samples_;
};

// A dataset over an explicit list of samples (tests, split helpers, the plain-folder fallback of bench_loader).
class ListDataset : public Dataset {
 public:
  ListDataset(std::string name, std::vector<Sample> samples) : Dataset(std::move(name)) {
    samples_ = std::move(samples);
  }
};

}  // namespace edat::data
