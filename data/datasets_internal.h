// Helpers shared by datasets.cpp and datasets_layouts.cpp (not part of the public interface).
#pragma once

#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "data/datasets.h"

namespace edat::data::detail {

// The age in `text` plus `offset`, or nothing after recording why in `report` (missing, non-numeric, negative,
// above options.max_age).
std::optional<float> checked_age(std::string_view text, double offset, const DatasetOptions& options,
                                 ReadReport& report, const std::string& where);
// A sample from its fields (designated initialisers would have to name every member to stay warning-free).
inline Sample make_sample(std::string path, float age, int gender = -1, std::string group = {}) {
  Sample sample;
  sample.path = std::move(path), sample.age = age, sample.gender = gender, sample.group = std::move(group);
  return sample;
}
// root / relative (relative alone when root is empty).
std::string join(const std::string& root, std::string_view relative);
// True when the sample's file exists or options.check_files is off; otherwise records a "missing file" skip.
bool keep_if_exists(const Sample& sample, const DatasetOptions& options, ReadReport& report, const std::string& where);
// 0 male, 1 female, -1 unknown from "male"/"female", "111"/"112", "0"/"1".
int gender_from_word(std::string_view word);
// UTKFace's gender: the second '_' field of the file name when it is 0 or 1, else -1.
inline int utk_gender(std::string_view name) {
  const std::size_t a = name.find('_');
  if (a == std::string_view::npos) return -1;
  const std::size_t b = name.find('_', a + 1);
  const std::string_view field = name.substr(a + 1, b == std::string_view::npos ? std::string_view::npos : b - a - 1);
  return field == "0" ? 0 : field == "1" ? 1 : -1;
}
// A value clipped for messages, in quotes.
std::string quoted(std::string_view text);
// The CORAL age offset of a dataset kind (CACD 14, AFAD 15, UTKFace 21, others 0).
double default_age_offset(std::string_view kind);
// APPA-REAL's label rows, minus the images named in `ignored` (file names or stems).
std::vector<Sample> appa_rows(const CsvTable& table, const DatasetOptions& options,
                              const std::set<std::string>& ignored, ReadReport& report);

}  // namespace edat::data::detail
