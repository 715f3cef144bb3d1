// Seeded splits (see split.h): a Fisher-Yates shuffle of the samples (or of the groups) driven by Generator, then
// cuts at the cumulative fractions.
#include "data/split.h"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>
#include <unordered_map>

#include "data/csv.h"
#include "tensor/error.h"
#include "tensor/random.h"

namespace edat::data {

namespace {

// Fisher-Yates: position i swaps with a uniform j in [0, i]. (The modulo bias of a 64-bit draw is below 2^-40.)
template <typename T>
void shuffle(std::vector<T>& items, Generator& generator) {
  for (std::size_t i = items.size(); i > 1; --i) std::swap(items[i - 1], items[generator.next_bits() % i]);
}

}  // namespace

SplitIndices split_dataset(const Dataset& dataset, const SplitFractions& fractions, std::uint64_t seed, bool by_group) {
  const double total = fractions.train + fractions.valid + fractions.test;
  EDAT_CHECK(fractions.train >= 0 && fractions.valid >= 0 && fractions.test >= 0 && total > 0 && std::isfinite(total),
             "split_dataset: fractions must be non-negative with a positive sum, got train "
                 << fractions.train << ", valid " << fractions.valid << ", test " << fractions.test);
  const std::size_t n = dataset.size();

  // Units to shuffle: single samples, or groups of samples (in order of first appearance, so the result depends on
  // the dataset order and the seed only).
  std::vector<std::vector<std::size_t>> units;
  if (by_group) {
    std::unordered_map<std::string, std::size_t> unit_of;
    for (std::size_t i = 0; i < n; ++i) {
      const std::string& group = dataset.sample(i).group;
      if (group.empty()) {
        units.push_back({i});
        continue;
      }
      auto [it, fresh] = unit_of.try_emplace(group, units.size());
      if (fresh) units.emplace_back();
      units[it->second].push_back(i);
    }
  } else {
    units.resize(n);
    for (std::size_t i = 0; i < n; ++i) units[i] = {i};
  }
  Generator generator(seed);
  shuffle(units, generator);

  // Cut where the running sample count reaches each cumulative target (a group never straddles a cut).
  const double train_end = n * fractions.train / total, valid_end = n * (fractions.train + fractions.valid) / total;
  SplitIndices split;
  std::size_t placed = 0;
  for (const auto& unit : units) {
    // A unit goes to the part its midpoint falls in, so parts match their fractions as closely as units allow.
    const double middle = placed + unit.size() / 2.0;
    auto& part = middle <= train_end ? split.train : middle <= valid_end ? split.valid : split.test;
    part.insert(part.end(), unit.begin(), unit.end());
    placed += unit.size();
  }
  return split;
}

std::vector<Sample> select_samples(const Dataset& dataset, const std::vector<std::size_t>& indices) {
  std::vector<Sample> samples;
  samples.reserve(indices.size());
  for (std::size_t i : indices) samples.push_back(dataset.sample(i));
  return samples;
}

void write_samples_csv(const std::filesystem::path& file, const std::vector<Sample>& samples,
                       const std::filesystem::path& relative_to) {
  std::string text = "path,age\n";
  for (const Sample& sample : samples) {
    std::filesystem::path path(sample.path);
    if (!relative_to.empty()) {
      const std::filesystem::path relative = path.lexically_relative(relative_to);
      if (!relative.empty() && *relative.begin() != "..") path = relative;
    }
    append_csv_field(text, path.generic_string());
    char age[32] = ",\n";  // an unknown (non-finite) age is left empty
    if (std::isfinite(sample.age)) std::snprintf(age, sizeof age, ",%g\n", static_cast<double>(sample.age));
    text += age;
  }
  std::ofstream out(file, std::ios::binary);
  EDAT_CHECK(out, "cannot write '" << file.string() << "'");
  out << text;
  EDAT_CHECK(out.good(), "error writing '" << file.string() << "'");
}

}  // namespace edat::data
