// The dataset constructors: each reads its layout's label CSV or walks its folder layout (see datasets.h).
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <set>

#include "data/datasets.h"
#include "data/datasets_internal.h"
#include "tensor/error.h"

namespace edat::data {

namespace fs = std::filesystem;
using namespace detail;

namespace {

bool is_image_file(const fs::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png" || ext == ".bmp";
}

void require_root(const std::string& name, const DatasetOptions& options) {
  EDAT_CHECK(!options.root.empty(), name << ": no data root given");
  std::error_code error;
  EDAT_CHECK(fs::exists(options.root, error), name << ": data root '" << options.root << "' does not exist");
  EDAT_CHECK(fs::is_directory(options.root, error), name << ": data root '" << options.root << "' is not a folder");
}

// The image files under `root`, at any depth, as paths relative to it, sorted so the sample order is the same on
// every machine.
std::vector<fs::path> image_files(const fs::path& root) {
  std::vector<fs::path> files;
  std::error_code error;
  for (auto it = fs::recursive_directory_iterator(root, fs::directory_options::skip_permission_denied, error);
       !error && it != fs::recursive_directory_iterator(); it.increment(error)) {
    if (it->is_regular_file(error) && is_image_file(it->path())) files.push_back(it->path().lexically_relative(root));
  }
  EDAT_CHECK(!error, "cannot list '" << root.string() << "': " << error.message());
  std::sort(files.begin(), files.end());
  return files;
}

// CACD and UTKFace names start with the age: "45_Harry_Connick_Jr._0002.jpg", "26_1_0_2017...jpg.chip.jpg".
std::optional<float> age_in_name(const std::string& name, const DatasetOptions& options, ReadReport& report,
                                 const std::string& where) {
  const std::size_t underscore = name.find('_');
  if (underscore == std::string::npos || underscore == 0) {
    report.skip("no age in file name", where);
    return std::nullopt;
  }
  return checked_age(std::string_view(name).substr(0, underscore), 0.0, options, report, where);
}

// The layouts that are a CORAL/plain CSV: read it, turn its rows into samples.
std::vector<Sample> read_label_csv(std::string_view kind, const DatasetOptions& options, ReadReport& report) {
  return samples_from_csv(kind, read_csv(options.csv), options, report);
}

std::string csv_name(std::string_view kind, const DatasetOptions& options) {
  return std::string(kind) + "(" + fs::path(options.csv).filename().string() + ")";
}

}  // namespace

bool LabelledDataset::read_label_csv_if_given(const std::string& kind, const DatasetOptions& options) {
  if (options.check_files || options.csv.empty()) require_root(kind, options);
  if (options.csv.empty()) return false;
  samples_ = read_label_csv(kind, options, report_);
  finish(options, options.csv);
  return true;
}

std::vector<std::string> list_image_files(const std::string& root) {
  DatasetOptions options;
  options.root = root;
  require_root("list_image_files", options);
  std::vector<std::string> files;
  for (const fs::path& relative : image_files(root)) files.push_back(join(root, relative.string()));
  return files;
}

AppaRealDataset::AppaRealDataset(const DatasetOptions& options) : LabelledDataset("appa-real(" + options.split + ")") {
  EDAT_CHECK(options.split == "train" || options.split == "valid" || options.split == "test",
             "appa-real: split must be train, valid or test, not '" << options.split << "'");
  require_root("appa-real", options);
  const fs::path labels =
      options.csv.empty() ? fs::path(options.root) / ("gt_avg_" + options.split + ".csv") : fs::path(options.csv);
  EDAT_CHECK(fs::exists(labels), "appa-real: label file '" << labels.string() << "' does not exist (expected "
                                                           << "ROOT/gt_avg_{train,valid,test}.csv)");
  std::set<std::string> ignored;
  const fs::path ignore_file = fs::path(options.root) / "ignore_list.csv";
  if (options.use_ignore_list && fs::exists(ignore_file)) {
    const CsvTable ignore = read_csv(ignore_file);
    const int col = std::max(ignore.find_column("img_name"), 0);
    // The header itself may be a file name when the list has none.
    if (ignore.find_column("img_name") < 0 && !ignore.header.empty()) ignored.insert(ignore.header[0]);
    for (const auto& row : ignore.rows) {
      if (static_cast<int>(row.size()) <= col || row[col].empty()) continue;
      const fs::path name = fs::path(row[col]).filename();
      ignored.insert(name.string());
      ignored.insert(name.stem().string());
    }
  }
  const CsvTable table = read_csv(labels);
  report_.read = table.rows.size();
  samples_ = appa_rows(table, options, ignored, report_);
  finish(options, labels.string());
}

CacdDataset::CacdDataset(const DatasetOptions& options)
    : LabelledDataset(options.csv.empty() ? "cacd" : csv_name("cacd", options)) {
  if (read_label_csv_if_given("cacd", options)) return;
  for (const fs::path& relative : image_files(options.root)) {
    ++report_.read;
    const std::string name = relative.filename().string();
    const auto age = age_in_name(name, options, report_, relative.string());
    if (!age) continue;
    samples_.push_back(make_sample(join(options.root, relative.string()), *age, -1, cacd_identity(name)));
  }
  finish(options, options.root);
}

AfadDataset::AfadDataset(const DatasetOptions& options)
    : LabelledDataset(options.csv.empty() ? "afad" : csv_name("afad", options)) {
  if (read_label_csv_if_given("afad", options)) return;
  // AGE/GENDER/ID.jpg; files elsewhere (a README at the top, a stray folder) are counted, not read.
  for (const fs::path& relative : image_files(options.root)) {
    ++report_.read;
    const std::vector<fs::path> parts(relative.begin(), relative.end());
    const std::string where = relative.string();
    if (parts.size() != 3) {
      report_.skip("not at AGE/111|112/FILE", where);
      continue;
    }
    const auto age = checked_age(parts[0].string(), 0.0, options, report_, where);
    if (!age) continue;
    const std::string gender = parts[1].string();
    if (gender != "111" && gender != "112") {
      report_.skip("gender folder not 111 or 112", where);
      continue;
    }
    samples_.push_back(make_sample(join(options.root, where), *age, gender == "111" ? 0 : 1));
  }
  finish(options, options.root);
}

UtkFaceDataset::UtkFaceDataset(const DatasetOptions& options)
    : LabelledDataset(options.csv.empty() ? "utkface" : csv_name("utkface", options)) {
  if (read_label_csv_if_given("utkface", options)) return;
  for (const fs::path& relative : image_files(options.root)) {
    ++report_.read;
    const std::string name = relative.filename().string();
    const auto age = age_in_name(name, options, report_, relative.string());
    if (!age) continue;
    samples_.push_back(make_sample(join(options.root, relative.string()), *age, utk_gender(name)));
  }
  finish(options, options.root);
}

CsvDataset::CsvDataset(const DatasetOptions& options) : LabelledDataset(csv_name("csv", options)) {
  EDAT_CHECK(!options.csv.empty(), "csv: no CSV file given (the dataset is a CSV with columns path,age)");
  // Paths are relative to the root, by default the CSV's own folder.
  DatasetOptions resolved = options;
  if (resolved.root.empty()) resolved.root = fs::path(options.csv).parent_path().string();
  if (resolved.check_files && !resolved.root.empty()) require_root("csv", resolved);
  samples_ = read_label_csv("csv", resolved, report_);
  finish(options, options.csv);
}

}  // namespace edat::data
