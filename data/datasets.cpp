// The datasets' shared half: the read report, age and file-name parsing, the CSV row readers of every layout
// (samples_from_csv) and the factory. The folder walks and the constructors are in datasets_layouts.cpp.
#include "data/datasets.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <set>
#include <sstream>

#include "data/datasets_internal.h"
#include "tensor/error.h"

namespace edat::data {

namespace fs = std::filesystem;

void ReadReport::skip(const std::string& reason, const std::string& where, const std::string& detail) {
  ++skipped[reason];
  if (examples.size() < max_examples)
    examples.push_back(where + ": " + reason + (detail.empty() ? "" : " (" + detail + ")"));
}

std::size_t ReadReport::skipped_total() const {
  std::size_t total = 0;
  for (const auto& [reason, count] : skipped) total += count;
  return total;
}

std::size_t ReadReport::skipped_for(const std::string& reason) const {
  const auto it = skipped.find(reason);
  return it == skipped.end() ? 0 : it->second;
}

std::string ReadReport::summary() const {
  std::ostringstream out;
  out << read << " read, " << kept << " kept, " << skipped_total() << " skipped";
  if (skipped.empty()) return out.str();
  out << " (";
  bool first = true;
  for (const auto& [reason, count] : skipped) out << (first ? "" : ", ") << count << " " << reason, first = false;
  out << "); first: ";
  for (std::size_t i = 0; i < examples.size(); ++i) out << (i ? "; " : "") << examples[i];
  return out.str();
}

void LabelledDataset::finish(const DatasetOptions& options, const std::string& source) {
  report_.kept = samples_.size();
  EDAT_CHECK(!samples_.empty(), name_ << ": no usable samples in " << source << ": " << report_.summary());
  if (options.warn && report_.skipped_total() > 0)
    std::fprintf(stderr, "edat: warning: %s: %s\n", name_.c_str(), report_.summary().c_str());
  // Allowed (a list may gather images from several folders), but never unannounced.
  if (options.warn && report_.outside_root > 0)
    std::fprintf(stderr, "edat: note: %s: %zu paths lie outside the data root '%s' (first: %s)\n", name_.c_str(),
                 report_.outside_root, options.root.c_str(), report_.first_outside_root.c_str());
}

namespace detail {

std::string number(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", value);
  return text;
}

std::string quoted(std::string_view text) {
  constexpr std::size_t limit = 60;  // fuzzed or binary junk stays readable in a warning
  std::string out = "'";
  out += text.size() > limit ? std::string(text.substr(0, limit)) + "..." : std::string(text);
  return out + "'";
}

std::optional<float> checked_age(std::string_view text, double offset, const DatasetOptions& options,
                                 ReadReport& report, const std::string& where) {
  const std::optional<double> value = parse_number(text);
  if (!value) {
    report.skip(text.find_first_not_of(" \t") == std::string_view::npos ? "missing age" : "non-numeric age", where,
                quoted(text));
    return std::nullopt;
  }
  const double age = *value + offset;
  if (age < 0) {
    report.skip("negative age", where, number(age));
    return std::nullopt;
  }
  if (age > options.max_age) {
    report.skip("implausible age", where, number(age) + " > " + number(options.max_age));
    return std::nullopt;
  }
  return static_cast<float>(age);
}

std::string join(const std::string& root, std::string_view relative) {
  if (root.empty()) return std::string(relative);
  return (fs::path(root) / fs::path(relative)).string();
}

bool keep_if_exists(const Sample& sample, const DatasetOptions& options, ReadReport& report, const std::string& where) {
  if (!options.check_files) return true;
  std::error_code error;
  if (fs::is_regular_file(sample.path, error)) return true;
  report.skip("missing file", where, sample.path);
  return false;
}

int gender_from_word(std::string_view word) {
  if (word == "male" || word == "m" || word == "M" || word == "111" || word == "0") return 0;
  if (word == "female" || word == "f" || word == "F" || word == "112" || word == "1") return 1;
  return -1;
}

std::vector<Sample> appa_rows(const CsvTable& table, const DatasetOptions& options,
                              const std::set<std::string>& ignored, ReadReport& report) {
  const int file_col = table.column("file_name");
  const int age_col = table.column(options.target == AppaTarget::real ? "real_age" : "apparent_age_avg");
  const std::string folder = (fs::path(options.root) / options.split).string();
  std::vector<Sample> samples;
  for (std::size_t r = 0; r < table.rows.size(); ++r) {
    const auto& row = table.rows[r];
    const std::string where = table.where(r);
    if (static_cast<int>(row.size()) <= std::max(file_col, age_col)) {
      report.skip("short row", where, std::to_string(row.size()) + " fields");
      continue;
    }
    const std::string& file = row[file_col];
    if (file.empty()) {
      report.skip("empty file name", where);
      continue;
    }
    if (ignored.contains(file) || ignored.contains(fs::path(file).stem().string())) {
      report.skip("in ignore_list.csv", where, file);
      continue;
    }
    const auto age = checked_age(row[age_col], 0.0, options, report, where);
    if (!age) continue;
    Sample sample = make_sample(join(folder, options.face_crops ? file + "_face.jpg" : file), *age);
    if (keep_if_exists(sample, options, report, where)) samples.push_back(std::move(sample));
  }
  return samples;
}

}  // namespace detail

using namespace detail;

std::optional<double> age_from_file_name(std::string_view file_name) {
  const std::size_t underscore = file_name.find('_');
  if (underscore == std::string_view::npos) return std::nullopt;
  return parse_number(file_name.substr(0, underscore));
}

std::string cacd_identity(std::string_view file_name) {
  const std::size_t first = file_name.find('_');
  const std::size_t last = file_name.rfind('_');
  if (first == std::string_view::npos || last <= first + 1) return "";
  return std::string(file_name.substr(first + 1, last - first - 1));
}

double detail::default_age_offset(std::string_view kind) {
  if (kind == "cacd") return 14;
  if (kind == "afad") return 15;
  if (kind == "utkface") return 21;
  return 0;
}

std::vector<Sample> samples_from_csv(std::string_view kind, const CsvTable& table, const DatasetOptions& options,
                                     ReadReport& report) {
  report.read += table.rows.size();
  if (kind == "appa-real") return appa_rows(table, options, {}, report);

  // The CORAL lists and the CSV dataset: a path column, an age column (+ offset), AFAD's optional gender column.
  const bool afad = kind == "afad", plain = kind == "csv";
  EDAT_CHECK(afad || plain || kind == "cacd" || kind == "utkface",
             "samples_from_csv: unknown dataset kind '" << kind << "'");
  const int path_col = table.column(afad || plain ? "path" : "file");
  const int age_col = table.column("age");
  const int gender_col = afad ? table.find_column("gender") : -1;
  const double offset = options.age_offset.value_or(default_age_offset(kind));

  std::vector<Sample> samples;
  for (std::size_t r = 0; r < table.rows.size(); ++r) {
    const auto& row = table.rows[r];
    const std::string where = table.where(r);
    if (static_cast<int>(row.size()) <= std::max(path_col, age_col)) {
      report.skip("short row", where, std::to_string(row.size()) + " fields");
      continue;
    }
    const std::string& file = row[path_col];
    if (file.empty()) {
      report.skip("empty path", where);
      continue;
    }
    const auto age = checked_age(row[age_col], offset, options, report, where);
    if (!age) continue;
    const fs::path relative = fs::path(file).lexically_normal();
    if (relative.is_absolute() || (!relative.empty() && *relative.begin() == "..")) {
      if (report.outside_root++ == 0) report.first_outside_root = where + ": " + file;
    }
    Sample sample = make_sample(join(options.root, file), *age);
    const std::string name = fs::path(file).filename().string();
    if (kind == "cacd") sample.group = cacd_identity(name);
    if (kind == "utkface") sample.gender = utk_gender(name);
    if (afad) {
      if (gender_col >= 0 && gender_col < static_cast<int>(row.size()))
        sample.gender = gender_from_word(row[gender_col]);
      if (sample.gender < 0) sample.gender = gender_from_word(fs::path(file).parent_path().filename().string());
    }
    if (keep_if_exists(sample, options, report, where)) samples.push_back(std::move(sample));
  }
  return samples;
}

const std::vector<std::string>& dataset_kinds() {
  static const std::vector<std::string> kinds = {"appa-real", "cacd", "afad", "utkface", "csv"};
  return kinds;
}

std::unique_ptr<LabelledDataset> open_dataset(std::string_view kind, const DatasetOptions& options) {
  if (kind == "appa-real") return std::make_unique<AppaRealDataset>(options);
  if (kind == "cacd") return std::make_unique<CacdDataset>(options);
  if (kind == "afad") return std::make_unique<AfadDataset>(options);
  if (kind == "utkface") return std::make_unique<UtkFaceDataset>(options);
  if (kind == "csv") return std::make_unique<CsvDataset>(options);
  std::string known;
  for (const std::string& k : dataset_kinds()) known += (known.empty() ? "" : ", ") + k;
  throw Error("unknown dataset '" + std::string(kind) + "' (known: " + known + ")");
}

}  // namespace edat::data
