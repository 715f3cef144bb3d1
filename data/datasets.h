// The datasets: APPA-REAL, CACD, AFAD, UTKFace and a plain CSV list, each reading its real on-disk layout into the
// Sample list of data/dataset.h, and each reporting how many rows (or files) it read and which it skipped and why.
//
//   APPA-REAL  ROOT/{train,valid,test}/000000.jpg[_face.jpg] + ROOT/gt_avg_{train,valid,test}.csv
//              (file_name,num_ratings,apparent_age_avg,apparent_age_std,real_age); optional ROOT/ignore_list.csv
//              (img_name). Target: apparent age (default) or real age; images: the face crops (default) or full.
//   CACD       ROOT/AGE_First_Last_NNNN.jpg (age = first field; the name between may hold '_' and '.'), or a
//              CORAL split CSV (,file,age) with age = column + 14. The celebrity name is Sample::group.
//   AFAD       ROOT/AGE/{111,112}/ID.jpg (111 male, 112 female), or a CORAL CSV (file,path,age,gender), age + 15.
//   UTKFace    ROOT/AGE_GENDER_RACE_DATE.jpg[.chip.jpg] (age = first field; a few names lack RACE), or a CORAL CSV
//              (,file,age), age + 21.
//   CSV        a CSV with a header and columns path,age; paths relative to ROOT.
//
// Bad rows never stop a read: a missing image file, a non-numeric, negative or absurd age, a short row, a name
// without an age are counted per reason in report(), and a warning names the first few. What cannot be a dataset
// is an edat::Error: a missing root or CSV file, a missing column, no usable sample at all.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "data/csv.h"
#include "data/dataset.h"

namespace edat::data {

// What a reader looked at and what it kept.
struct ReadReport {
  static constexpr std::size_t max_examples = 5;

  std::size_t read = 0;                        // rows (CSV) or files (folder walk) examined
  std::size_t kept = 0;                        // samples in the dataset
  std::map<std::string, std::size_t> skipped;  // reason ("missing file", "non-numeric age", ...) -> count
  std::vector<std::string> examples;           // the first few skips as "where: reason (detail)"
  std::size_t outside_root = 0;                // rows whose path leaves the root (absolute, or through "..")
  std::string first_outside_root;              // the first of them, "where: path"

  void skip(const std::string& reason, const std::string& where, const std::string& detail = "");
  std::size_t skipped_total() const;
  std::size_t skipped_for(const std::string& reason) const;
  // "1203 rows read, 1200 kept, 3 skipped (2 missing file, 1 negative age); first: a.csv:4: missing file (x.jpg), ..."
  std::string summary() const;
};

enum class AppaTarget { apparent, real };

// One options struct for every reader; each uses the fields that apply to it.
struct DatasetOptions {
  std::string root;                  // the image root (every dataset; APPA-REAL: the appa-real-release folder)
  std::string csv;                   // a label CSV (CORAL split, or the CSV dataset's list); empty: walk the folders
  std::string split = "train";       // APPA-REAL: train, valid or test
  std::optional<double> age_offset;  // added to a CSV's age column; default: CACD 14, AFAD 15, UTKFace 21, CSV 0
  AppaTarget target = AppaTarget::apparent;  // APPA-REAL: apparent_age_avg or real_age
  bool face_crops = true;                    // APPA-REAL: X.jpg_face.jpg (default) or the full image X.jpg
  bool use_ignore_list = true;               // APPA-REAL: drop the images named in ROOT/ignore_list.csv when it exists
  bool check_files = true;                   // skip rows whose image file does not exist (a stat per row)
  double max_age = 120;                      // ages above this are skipped as implausible
  bool warn = true;                          // print the summary to stderr when something was skipped
};

// A dataset made by one of the readers below: the samples plus the report of what was read.
class LabelledDataset : public Dataset {
 public:
  const ReadReport& report() const { return report_; }

 protected:
  explicit LabelledDataset(std::string name) : Dataset(std::move(name)) {}
  // Ends a constructor: throws edat::Error when no sample was kept (naming the reasons), warns about skips.
  void finish(const DatasetOptions& options, const std::string& source);
  // The start of every dataset that is a folder walk or a CORAL split CSV (CACD, AFAD, UTKFace): checks the root,
  // and with options.csv reads that CSV and finishes; returns whether it did (else the constructor walks the root).
  bool read_label_csv_if_given(const std::string& kind, const DatasetOptions& options);
  ReadReport report_;
};

class AppaRealDataset : public LabelledDataset {
 public:
  explicit AppaRealDataset(const DatasetOptions& options);
};
class CacdDataset : public LabelledDataset {
 public:
  explicit CacdDataset(const DatasetOptions& options);
};
class AfadDataset : public LabelledDataset {
 public:
  explicit AfadDataset(const DatasetOptions& options);
};
class UtkFaceDataset : public LabelledDataset {
 public:
  explicit UtkFaceDataset(const DatasetOptions& options);
};
class CsvDataset : public LabelledDataset {
 public:
  explicit CsvDataset(const DatasetOptions& options);
};

// The dataset kinds by name, for command lines: "appa-real", "cacd", "afad", "utkface", "csv".
const std::vector<std::string>& dataset_kinds();
// Opens a dataset by kind name; throws edat::Error for an unknown kind (listing the known ones).
std::unique_ptr<LabelledDataset> open_dataset(std::string_view kind, const DatasetOptions& options);

// The row-level half of every CSV reader, exposed for tests and the fuzz target: turns a parsed label table of the
// given kind into samples (paths joined to options.root), counting skips in `report`. Throws edat::Error for a
// missing column or an unknown kind; never for a bad row.
std::vector<Sample> samples_from_csv(std::string_view kind, const CsvTable& table, const DatasetOptions& options,
                                     ReadReport& report);

// The image files (.jpg, .jpeg, .png, .bmp) under `root` at any depth, sorted, as root-joined paths; throws
// edat::Error when root is not a folder. (The folder walks above use it; crop_faces uses it for unlabelled folders.)
std::vector<std::string> list_image_files(const std::string& root);

// Age from a file name's first '_'-separated field ("45_Harry_Connick_Jr._0002.jpg" -> 45), if it is a number.
std::optional<double> age_from_file_name(std::string_view file_name);
// The CACD identity: the name between the age and the image number ("45_Harry_Connick_Jr._0002.jpg" ->
// "Harry_Connick_Jr."); empty when the name does not have that shape.
std::string cacd_identity(std::string_view file_name);

}  // namespace edat::data
