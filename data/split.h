// Seeded train/valid/test splits of a dataset, optionally identity-disjoint, and CSV lists of samples.
//
// The shuffle draws from edat's counter-based Generator (tensor/random.h), so a seed gives the same split on every
// machine. With by_group, samples sharing a Sample::group (a CACD celebrity) land in the same part, so no identity
// is seen in training and evaluated on; samples without a group are their own group.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <vector>

#include "data/dataset.h"

namespace edat::data {

struct SplitFractions {
  double train = 0.8, valid = 0.1, test = 0.1;  // non-negative, normalised by their sum
};

struct SplitIndices {
  std::vector<std::size_t> train, valid, test;  // indices into the dataset; together each index exactly once
};

// Shuffles the dataset with `seed` and cuts it by the fractions (by whole groups when by_group).
SplitIndices split_dataset(const Dataset& dataset, const SplitFractions& fractions, std::uint64_t seed,
                           bool by_group = false);

// The samples at `indices`, e.g. to build a ListDataset of one part.
std::vector<Sample> select_samples(const Dataset& dataset, const std::vector<std::size_t>& indices);

// Writes a CSV dataset file (header path,age; data/datasets.h's "csv" kind) with each path relative to
// `relative_to` when it lies inside it (else as given). Throws edat::Error when the file cannot be written.
void write_samples_csv(const std::filesystem::path& file, const std::vector<Sample>& samples,
                       const std::filesystem::path& relative_to = {});

}  // namespace edat::data
