// Datasets (data/datasets.h), the CSV parser (data/csv.h) and the split helper (data/split.h): the real label files
// of ../shared/data when present (skipped otherwise), small generated trees in every layout, and bad input.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "data/csv.h"
#include "tests/data_test_util.h"
#include "tests/test_util.h"
#include "data/datasets.h"
#include "data/decode.h"
#include "data/demo_faces.h"
#include "data/encode.h"
#include "data/split.h"
#include "tensor/error.h"

using namespace edat;
using namespace edat::data;
namespace fs = std::filesystem;

using edat::testing::TempDir;

namespace {

#ifdef EDAT_SHARED_DATA
const fs::path shared_data = EDAT_SHARED_DATA;
#else
const fs::path shared_data;
#endif

void write_text(const fs::path& file, const std::string& text) {
  fs::create_directories(file.parent_path());
  std::ofstream(file, std::ios::binary) << text;
}
void touch(const fs::path& file) { write_text(file, ""); }

template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

DatasetOptions labels_only(const std::string& csv, const std::string& root = "/nonexistent") {
  DatasetOptions options;
  options.csv = csv;
  options.root = root;
  options.check_files = false;
  return options;
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------------
// CSV parser

TEST(Csv, ParsesHeaderQuotesLineEndsAndBlankLines) {
  const CsvTable t = parse_csv(
      "\xEF\xBB\xBF"
      "a, b ,c\r\n1,\"x, y\",\"say \"\"hi\"\"\"\r\n\r\n2,\"two\nlines\",3\n4,5\n",
      "t.csv");
  EXPECT_EQ(t.header, (std::vector<std::string>{"a", "b", "c"}));
  ASSERT_EQ(t.rows.size(), 3u);
  EXPECT_EQ(t.rows[0], (std::vector<std::string>{"1", "x, y", "say \"hi\""}));
  EXPECT_EQ(t.rows[1], (std::vector<std::string>{"2", "two\nlines", "3"}));
  EXPECT_EQ(t.rows[2], (std::vector<std::string>{"4", "5"}));  // short rows are kept; readers decide
  EXPECT_EQ(t.lines, (std::vector<std::size_t>{2, 4, 6}));
  EXPECT_EQ(t.where(1), "t.csv:4");
  EXPECT_EQ(t.column("b"), 1);
  EXPECT_EQ(t.find_column("z"), -1);
}

TEST(Csv, LenientOnMalformedInput) {
  EXPECT_TRUE(parse_csv("").header.empty());
  const CsvTable unterminated = parse_csv("a,b\n1,\"open,2\n3,4");
  ASSERT_EQ(unterminated.rows.size(), 1u);
  EXPECT_EQ(unterminated.rows[0][1], "open,2\n3,4");
  const CsvTable no_newline = parse_csv("a\rb\rc");  // old Mac line ends, no final newline
  EXPECT_EQ(no_newline.rows.size(), 2u);
  EXPECT_EQ(parse_csv("x\n,\n").rows[0], (std::vector<std::string>{"", ""}));
}

TEST(Csv, MissingColumnNamesFileAndColumns) {
  const CsvTable t = parse_csv("file,num\nx,1\n", "labels.csv");
  const std::string message = error_of([&] { t.column("age"); });
  EXPECT_NE(message.find("labels.csv"), std::string::npos) << message;
  EXPECT_NE(message.find("missing column 'age'"), std::string::npos) << message;
  EXPECT_NE(message.find("'file', 'num'"), std::string::npos) << message;
  EXPECT_NE(error_of([] { parse_csv("", "e.csv").column("age"); }).find("empty"), std::string::npos);
  EXPECT_NE(error_of([] { read_csv("/nonexistent/x.csv"); }).find("cannot open CSV file"), std::string::npos);
}

TEST(Csv, ParseNumber) {
  EXPECT_EQ(parse_number("31"), 31.0);
  EXPECT_EQ(parse_number(" 24.5 "), 24.5);
  EXPECT_EQ(parse_number("+3e1"), 30.0);
  EXPECT_EQ(parse_number("-2"), -2.0);
  for (const char* bad : {"", " ", "abc", "12abc", "nan", "inf", "1,5", "--1", "0x10"})
    EXPECT_FALSE(parse_number(bad).has_value()) << bad;
}

TEST(Csv, FieldQuotingRoundTrips) {
  std::string line;
  append_csv_field(line, "plain");
  line += ',';
  append_csv_field(line, "with, comma and \"quote\"");
  const CsvTable t = parse_csv("a,b\n" + line + "\n");
  EXPECT_EQ(t.rows[0], (std::vector<std::string>{"plain", "with, comma and \"quote\""}));
}

// ---------------------------------------------------------------------------------------------------------------
// File names

TEST(FileNames, AgeAndCacdIdentity) {
  EXPECT_EQ(age_from_file_name("45_Harry_Connick_Jr._0002.jpg"), 45.0);
  EXPECT_EQ(age_from_file_name("39_1_20170116174525125.jpg.chip.jpg"), 39.0);
  EXPECT_FALSE(age_from_file_name("Harry_45.jpg").has_value());
  EXPECT_FALSE(age_from_file_name("45.jpg").has_value());
  EXPECT_EQ(cacd_identity("45_Harry_Connick_Jr._0002.jpg"), "Harry_Connick_Jr.");
  EXPECT_EQ(cacd_identity("27_Kimberly_J._Brown_0011.jpg"), "Kimberly_J._Brown");
  EXPECT_EQ(cacd_identity("45_H._Jon_Benjamin_0014.jpg"), "H._Jon_Benjamin");
  EXPECT_EQ(cacd_identity("45_0001.jpg"), "");
}

// ---------------------------------------------------------------------------------------------------------------
// The real label files in ../shared/data

TEST(RealLabels, CacdCoralSplits) {
  const fs::path dir = shared_data / "labels";
  EDAT_SKIP_WITHOUT(dir / "coral_cacd_train.csv");
  const std::map<std::string, std::size_t> expected = {{"train", 114804}, {"valid", 12755}, {"test", 31890}};
  for (const auto& [split, rows] : expected) {
    CacdDataset ds(labels_only((dir / ("coral_cacd_" + split + ".csv")).string(), "/cacd"));
    EXPECT_EQ(ds.report().read, rows) << split;
    EXPECT_EQ(ds.size(), rows) << split;
    EXPECT_EQ(ds.report().skipped_total(), 0u) << ds.report().summary();
    std::set<std::string> identities;
    for (std::size_t i = 0; i < ds.size(); ++i) {
      const Sample& s = ds.sample(i);
      // The CSV's age + 14 is the age in the file name, for every row.
      const std::string name = fs::path(s.path).filename().string();
      ASSERT_EQ(age_from_file_name(name), static_cast<double>(s.age)) << s.path;
      ASSERT_FALSE(s.group.empty()) << s.path;
      identities.insert(s.group);
      ASSERT_GE(s.age, 14);
      ASSERT_LE(s.age, 62);
    }
    if (split == "train") {
      EXPECT_EQ(identities.size(), 2000u);  // CACD's 2,000 celebrities
      EXPECT_EQ(ds.sample(0).path, "/cacd/45_Peter_Mullan_0001.jpg");
      EXPECT_EQ(ds.sample(0).age, 45.0f);
    }
  }
}

TEST(RealLabels, AfadCoralSplits) {
  const fs::path dir = shared_data / "labels";
  EDAT_SKIP_WITHOUT(dir / "coral_afad_valid.csv");
  const std::map<std::string, std::size_t> expected = {{"valid", 13165}, {"test", 32762}};
  for (const auto& [split, rows] : expected) {
    AfadDataset ds(labels_only((dir / ("coral_afad_" + split + ".csv")).string(), "/afad"));
    EXPECT_EQ(ds.size(), rows) << ds.report().summary();
    std::size_t male = 0;
    for (std::size_t i = 0; i < ds.size(); ++i) {
      const Sample& s = ds.sample(i);
      const fs::path relative = fs::path(s.path).lexically_relative("/afad");
      const std::vector<fs::path> parts(relative.begin(), relative.end());
      ASSERT_EQ(parts.size(), 3u) << s.path;
      ASSERT_EQ(parse_number(parts[0].string()), static_cast<double>(s.age)) << s.path;  // CSV age + 15 = folder
      ASSERT_EQ(s.gender, parts[1] == "111" ? 0 : 1) << s.path;
      male += s.gender == 0;
    }
    if (split == "valid") {
      EXPECT_EQ(male, 9132u);
    }
  }
}

TEST(RealLabels, UtkFaceCoralTrainAgainstImages) {
  const fs::path csv = shared_data / "utkface" / "coral_utk_train.csv";
  EDAT_SKIP_WITHOUT(csv);
  DatasetOptions options;
  options.csv = csv.string();
  options.root = (shared_data / "utkface" / "images").string();
  UtkFaceDataset ds(options);  // checks that every listed file exists
  EXPECT_EQ(ds.size(), 13147u) << ds.report().summary();
  for (std::size_t i = 0; i < ds.size(); ++i) {
    ASSERT_EQ(age_from_file_name(fs::path(ds.sample(i).path).filename().string()), ds.sample(i).age);
    ASSERT_GE(ds.sample(i).age, 21);
    ASSERT_LE(ds.sample(i).age, 60);
  }
}

TEST(RealLabels, UtkFaceFolderWalk) {
  const fs::path images = shared_data / "utkface" / "images";
  EDAT_SKIP_WITHOUT(images);
  DatasetOptions options;
  options.root = images.string();
  UtkFaceDataset ds(options);
  EXPECT_EQ(ds.size(), 20420u) << ds.report().summary();
  EXPECT_EQ(ds.report().skipped_total(), 0u);
  // The three names without a race field still give their age and gender.
  std::size_t found = 0;
  for (std::size_t i = 0; i < ds.size(); ++i) {
    const std::string name = fs::path(ds.sample(i).path).filename().string();
    if (name == "39_1_20170116174525125.jpg.chip.jpg" || name == "61_1_20170109142408075.jpg.chip.jpg") {
      EXPECT_EQ(ds.sample(i).age, name[0] == '3' ? 39.0f : 61.0f);
      EXPECT_EQ(ds.sample(i).gender, 1);
      ++found;
    }
  }
  EXPECT_EQ(found, 2u);
  EXPECT_LT(ds.sample(0).path, ds.sample(1).path);  // sorted: the same order on every machine
}

// APPA-REAL's gt_avg_*.csv files are rebuilt from the two public label files (real ages; the ChaLearn 2016 apparent
// ages and splits), so the reader runs on the real file names, split sizes and ages.
TEST(RealLabels, AppaRealFromPublicLabels) {
  const fs::path real_csv = shared_data / "labels" / "appa_real_real_age_labels.csv";
  const fs::path json_file = shared_data / "labels" / "clap2016_apparent_age.json";
  EDAT_SKIP_WITHOUT(json_file);
  std::map<std::string, std::string> real_age;
  const CsvTable real = read_csv(real_csv);
  for (const auto& row : real.rows) real_age[row[0]] = row[1];
  ASSERT_EQ(real_age.size(), 7591u);

  TempDir tmp("test_datasets");
  std::map<std::string, std::string> gt;  // split -> file text
  std::map<std::string, double> apparent;
  const char* splits[] = {"train", "valid", "test"};
  for (const char* split : splits) gt[split] = "file_name,num_ratings,apparent_age_avg,apparent_age_std,real_age\n";
  std::ifstream in(json_file);
  for (const auto& entry : nlohmann::json::parse(in)) {
    const std::string file = fs::path(entry["img_path"].get<std::string>()).filename().string();
    const int folder = entry["folder"].get<int>();
    const double age = entry["age"].get<double>();
    apparent[file] = age;
    gt[splits[folder]] += file + ",38," + std::to_string(age) + "," + std::to_string(entry["std_age"].get<double>()) +
                          "," + real_age.at(file) + "\n";
  }
  for (const char* split : splits) write_text(tmp.path() / ("gt_avg_" + std::string(split) + ".csv"), gt[split]);

  const std::map<std::string, std::size_t> expected = {{"train", 4113}, {"valid", 1500}, {"test", 1978}};
  for (const auto& [split, rows] : expected) {
    DatasetOptions options;
    options.root = tmp.path().string();
    options.split = split;
    options.check_files = false;
    AppaRealDataset apparent_ds(options);
    options.target = AppaTarget::real;
    options.face_crops = false;
    AppaRealDataset real_ds(options);
    ASSERT_EQ(apparent_ds.size(), rows) << apparent_ds.report().summary();
    ASSERT_EQ(real_ds.size(), rows);
    EXPECT_EQ(apparent_ds.name(), "appa-real(" + split + ")");
    for (std::size_t i = 0; i < rows; ++i) {
      const fs::path face = apparent_ds.sample(i).path, full = real_ds.sample(i).path;
      ASSERT_EQ(face.parent_path(), tmp.path() / split);
      ASSERT_EQ(face.filename().string(), full.filename().string() + "_face.jpg");
      ASSERT_FLOAT_EQ(apparent_ds.sample(i).age, apparent.at(full.filename().string()));
      ASSERT_EQ(real_ds.sample(i).age, std::stof(real_age.at(full.filename().string())));
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Generated trees in each layout

TEST(Layouts, AppaRealTreeWithIgnoreListAndBadRows) {
  TempDir tmp("test_datasets");
  const fs::path root = tmp.path();
  for (const char* f : {"000000.jpg", "000000.jpg_face.jpg", "000001.jpg", "000001.jpg_face.jpg", "000002.jpg",
                        "000002.jpg_face.jpg", "000003.jpg_face.jpg", "000005.jpg_face.jpg", "000006.jpg_face.jpg"})
    touch(root / "valid" / f);
  write_text(root / "gt_avg_valid.csv",
             "file_name,num_ratings,apparent_age_avg,apparent_age_std,real_age\n"
             "000000.jpg,36,25.5,3.2,27\n"
             "000001.jpg,38,61.0,5.0,58\n"
             "000002.jpg,35,40.25,4.0,40\n"  // in the ignore list
             "000003.jpg,30,abc,1.0,30\n"    // non-numeric apparent age
             "000004.jpg,30,20,1.0,21\n"     // no image
             "000005.jpg,30,-3,1.0,2\n"      // negative age
             "000006.jpg,30\n");             // short row
  write_text(root / "ignore_list.csv", "img_name\n000002.jpg\n");

  DatasetOptions options;
  options.root = root.string();
  options.split = "valid";
  AppaRealDataset ds(options);
  ASSERT_EQ(ds.size(), 2u);
  EXPECT_EQ(ds.sample(0).path, (root / "valid" / "000000.jpg_face.jpg").string());
  EXPECT_EQ(ds.sample(0).age, 25.5f);
  EXPECT_EQ(ds.sample(1).age, 61.0f);
  const ReadReport& r = ds.report();
  EXPECT_EQ(r.read, 7u);
  EXPECT_EQ(r.kept, 2u);
  EXPECT_EQ(r.skipped_for("in ignore_list.csv"), 1u);
  EXPECT_EQ(r.skipped_for("non-numeric age"), 1u);
  EXPECT_EQ(r.skipped_for("missing file"), 1u);
  EXPECT_EQ(r.skipped_for("negative age"), 1u);
  EXPECT_EQ(r.skipped_for("short row"), 1u);
  EXPECT_EQ(r.examples.size(), 5u);
  EXPECT_NE(r.summary().find("gt_avg_valid.csv:5: non-numeric age ('abc')"), std::string::npos) << r.summary();

  options.target = AppaTarget::real;
  options.face_crops = false;
  options.use_ignore_list = false;
  AppaRealDataset real(options);
  ASSERT_EQ(real.size(), 3u);
  EXPECT_EQ(real.sample(0).path, (root / "valid" / "000000.jpg").string());
  EXPECT_EQ(real.sample(0).age, 27.0f);
  EXPECT_EQ(real.sample(2).age, 40.0f);
  EXPECT_EQ(real.report().skipped_for("missing file"), 3u);  // only face crops of 000003, 000004, 000005 exist

  options.split = "dev";
  EXPECT_NE(error_of([&] { AppaRealDataset bad(options); }).find("split must be train, valid or test"),
            std::string::npos);
  options.split = "test";
  EXPECT_NE(error_of([&] { AppaRealDataset bad(options); }).find("gt_avg_test.csv"), std::string::npos);
}

TEST(Layouts, CacdFolder) {
  TempDir tmp("test_datasets");
  for (const char* f : {"45_Harry_Connick_Jr._0002.jpg", "45_Harry_Connick_Jr._0001.jpg", "17_Renee_Olstead_0001.jpg",
                        "x_Bad_Name_0001.jpg", "README.txt", "celebrity2000_meta.mat"})
    touch(tmp.path() / f);
  DatasetOptions options;
  options.root = tmp.path().string();
  CacdDataset ds(options);
  ASSERT_EQ(ds.size(), 3u);
  EXPECT_EQ(ds.report().read, 4u);  // image files only
  EXPECT_EQ(ds.report().skipped_for("non-numeric age"), 1u);
  EXPECT_EQ(fs::path(ds.sample(0).path).filename(), "17_Renee_Olstead_0001.jpg");
  EXPECT_EQ(ds.sample(0).age, 17.0f);
  EXPECT_EQ(ds.sample(1).group, "Harry_Connick_Jr.");
  EXPECT_EQ(ds.sample(2).age, 45.0f);
}

TEST(Layouts, CacdCsvChecksFiles) {
  TempDir tmp("test_datasets");
  touch(tmp.path() / "img" / "45_Peter_Mullan_0001.jpg");
  write_text(tmp.path() / "split.csv", ",file,age\n0,45_Peter_Mullan_0001.jpg,31\n1,30_Brittany_Murphy_0004.jpg,16\n");
  DatasetOptions options;
  options.csv = (tmp.path() / "split.csv").string();
  options.root = (tmp.path() / "img").string();
  CacdDataset ds(options);
  ASSERT_EQ(ds.size(), 1u);
  EXPECT_EQ(ds.sample(0).age, 45.0f);
  EXPECT_EQ(ds.report().skipped_for("missing file"), 1u);
  EXPECT_EQ(ds.name(), "cacd(split.csv)");
  options.age_offset = 0;  // an explicit offset replaces the CORAL default
  EXPECT_EQ(CacdDataset(options).sample(0).age, 31.0f);
}

TEST(Layouts, AfadFolder) {
  TempDir tmp("test_datasets");
  const fs::path root = tmp.path();
  touch(root / "15" / "111" / "1-0.jpg");
  touch(root / "15" / "112" / "2-0.jpg");
  touch(root / "40" / "112" / "3-0.jpg");
  touch(root / "40" / "113" / "4-0.jpg");   // unknown gender code
  touch(root / "old" / "111" / "5-0.jpg");  // not an age
  touch(root / "stray.jpg");                // not in AGE/GENDER/
  touch(root / "AFAD-Full.txt");
  DatasetOptions options;
  options.root = root.string();
  AfadDataset ds(options);
  ASSERT_EQ(ds.size(), 3u);
  EXPECT_EQ(ds.report().read, 6u);
  EXPECT_EQ(ds.sample(0).age, 15.0f);
  EXPECT_EQ(ds.sample(0).gender, 0);
  EXPECT_EQ(ds.sample(1).gender, 1);
  EXPECT_EQ(ds.sample(2).age, 40.0f);
  EXPECT_EQ(ds.report().skipped_for("gender folder not 111 or 112"), 1u);
  EXPECT_EQ(ds.report().skipped_for("non-numeric age"), 1u);
  EXPECT_EQ(ds.report().skipped_for("not at AGE/111|112/FILE"), 1u);
}

TEST(Layouts, AfadCsv) {
  TempDir tmp("test_datasets");
  touch(tmp.path() / "39" / "112" / "406208-0.jpg");
  write_text(tmp.path() / "afad.csv", "file,path,age,gender\n406208-0.jpg,39/112/406208-0.jpg,24,female\n");
  DatasetOptions options;
  options.csv = (tmp.path() / "afad.csv").string();
  options.root = tmp.path().string();
  AfadDataset ds(options);
  ASSERT_EQ(ds.size(), 1u);
  EXPECT_EQ(ds.sample(0).age, 39.0f);
  EXPECT_EQ(ds.sample(0).gender, 1);
}

TEST(Layouts, UtkFaceFolderWithRealJpegs) {
  TempDir tmp("test_datasets");
  Image image(8, 8);
  for (std::size_t i = 0; i < image.pixels.size(); ++i) image.pixels[i] = static_cast<std::uint8_t>(i * 7);
  for (const char* f : {"26_1_0_20170116171048641.jpg.chip.jpg", "39_1_20170116174525125.jpg.chip.jpg",
                        "100_0_0_20170112213500903.jpg"})
    write_image((tmp.path() / f).string(), image);
  touch(tmp.path() / "noage.jpg");
  DatasetOptions options;
  options.root = tmp.path().string();
  UtkFaceDataset ds(options);
  ASSERT_EQ(ds.size(), 3u);
  EXPECT_EQ(ds.report().skipped_for("no age in file name"), 1u);
  EXPECT_EQ(ds.sample(0).age, 100.0f);
  EXPECT_EQ(ds.sample(0).gender, 0);
  EXPECT_EQ(ds.sample(2).age, 39.0f);  // no race field
  const Image decoded = decode_image_file(ds.sample(1).path);
  EXPECT_EQ(decoded.width, 8);
  EXPECT_EQ(decoded.height, 8);
}

TEST(Layouts, CsvDatasetPathsRelativeToRoot) {
  TempDir tmp("test_datasets");
  touch(tmp.path() / "a" / "x.jpg");
  touch(tmp.path() / "b.png");
  write_text(tmp.path() / "list.csv", "path,age\na/x.jpg,30\nb.png,41.5\nmissing.jpg,20\n");
  DatasetOptions options;
  options.csv = (tmp.path() / "list.csv").string();  // root defaults to the CSV's folder
  CsvDataset ds(options);
  ASSERT_EQ(ds.size(), 2u);
  EXPECT_EQ(ds.sample(0).path, (tmp.path() / "a" / "x.jpg").string());
  EXPECT_EQ(ds.sample(1).age, 41.5f);
  EXPECT_EQ(ds.report().skipped_for("missing file"), 1u);

  auto via_factory = open_dataset("csv", options);
  EXPECT_EQ(via_factory->size(), 2u);
  EXPECT_NE(error_of([&] { open_dataset("imdb", options); }).find("known: appa-real, cacd, afad, utkface, csv"),
            std::string::npos);
}

TEST(Layouts, CsvPathsOutsideTheRootAreCounted) {
  // Allowed, but announced: a list may name images anywhere, which a user should know when it happens.
  TempDir tmp("test_datasets");
  touch(tmp.path() / "root" / "in.jpg");
  touch(tmp.path() / "out.jpg");
  write_text(tmp.path() / "root" / "list.csv",
             "path,age\nin.jpg,30\n../out.jpg,40\n" + (tmp.path() / "out.jpg").string() + ",50\n./in.jpg,20\n");
  DatasetOptions options;
  options.csv = (tmp.path() / "root" / "list.csv").string();
  CsvDataset ds(options);
  EXPECT_EQ(ds.size(), 4u);
  EXPECT_EQ(ds.report().outside_root, 2u);
  EXPECT_NE(ds.report().first_outside_root.find("../out.jpg"), std::string::npos) << ds.report().first_outside_root;
}

// ---------------------------------------------------------------------------------------------------------------
// Bad input: clear errors for what cannot be a dataset

TEST(BadInput, ClearErrors) {
  TempDir tmp("test_datasets");
  DatasetOptions options;
  options.root = (tmp.path() / "nowhere").string();
  EXPECT_NE(error_of([&] { CacdDataset ds(options); }).find("data root '" + options.root + "' does not exist"),
            std::string::npos);
  EXPECT_NE(error_of([&] { AfadDataset ds(options); }).find("does not exist"), std::string::npos);
  EXPECT_NE(error_of([&] { AppaRealDataset ds(options); }).find("does not exist"), std::string::npos);

  // An empty folder: an empty dataset.
  options.root = tmp.path().string();
  EXPECT_NE(error_of([&] { UtkFaceDataset ds(options); }).find("utkface: no usable samples"), std::string::npos);

  // A missing column.
  write_text(tmp.path() / "l.csv", "path,years\na.jpg,3\n");
  options.csv = (tmp.path() / "l.csv").string();
  EXPECT_NE(error_of([&] { CsvDataset ds(options); }).find("missing column 'age'"), std::string::npos);

  // Every row bad: an empty dataset whose error names the reasons.
  write_text(tmp.path() / "l.csv", "path,age\na.jpg,-1\nb.jpg,old\nc.jpg,\n");
  const std::string message = error_of([&] { CsvDataset ds(options); });
  EXPECT_NE(message.find("no usable samples"), std::string::npos) << message;
  EXPECT_NE(message.find("1 negative age"), std::string::npos) << message;
  EXPECT_NE(message.find("1 non-numeric age"), std::string::npos) << message;
  EXPECT_NE(message.find("1 missing age"), std::string::npos) << message;

  // A missing CSV, an implausible age.
  options.csv = (tmp.path() / "none.csv").string();
  EXPECT_NE(error_of([&] { CsvDataset ds(options); }).find("cannot open CSV file"), std::string::npos);
  write_text(tmp.path() / "l.csv", "path,age\na.jpg,30\nb.jpg,999\n");
  touch(tmp.path() / "a.jpg");
  touch(tmp.path() / "b.jpg");
  options.csv = (tmp.path() / "l.csv").string();
  CsvDataset ds(options);
  EXPECT_EQ(ds.size(), 1u);
  EXPECT_EQ(ds.report().skipped_for("implausible age"), 1u);
}

TEST(BadInput, WarningNamesTheFirstFew) {
  TempDir tmp("test_datasets");
  std::string text = "path,age\n";
  for (int i = 0; i < 20; ++i) text.append("m").append(std::to_string(i)).append(".jpg,30\n");
  touch(tmp.path() / "ok.jpg");
  text += "ok.jpg,30\n";
  write_text(tmp.path() / "l.csv", text);
  DatasetOptions options;
  options.csv = (tmp.path() / "l.csv").string();
  ::testing::internal::CaptureStderr();
  CsvDataset ds(options);
  const std::string warning = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(ds.size(), 1u);
  EXPECT_NE(warning.find("edat: warning: csv(l.csv): 21 read, 1 kept, 20 skipped (20 missing file)"), std::string::npos)
      << warning;
  EXPECT_NE(warning.find("l.csv:2: missing file"), std::string::npos) << warning;
  EXPECT_NE(warning.find("l.csv:6: missing file"), std::string::npos) << warning;
  EXPECT_EQ(warning.find("l.csv:7:"), std::string::npos) << warning;  // only the first five are named
}

// ---------------------------------------------------------------------------------------------------------------
// Splits

namespace {
ListDataset numbered(std::size_t n, std::size_t group_size = 0) {
  std::vector<Sample> samples(n);
  for (std::size_t i = 0; i < n; ++i) {
    samples[i].path = std::to_string(i) + ".jpg";
    samples[i].age = static_cast<float>(i);
    if (group_size) samples[i].group = "person" + std::to_string(i % (n / group_size));
  }
  return ListDataset("numbered", samples);
}
}  // namespace

TEST(Split, SeededPartitionWithFractions) {
  const ListDataset ds = numbered(1000);
  const SplitIndices a = split_dataset(ds, {0.7, 0.2, 0.1}, 42);
  EXPECT_EQ(a.train.size(), 700u);
  EXPECT_EQ(a.valid.size(), 200u);
  EXPECT_EQ(a.test.size(), 100u);
  std::vector<std::size_t> all = a.train;
  all.insert(all.end(), a.valid.begin(), a.valid.end());
  all.insert(all.end(), a.test.begin(), a.test.end());
  std::sort(all.begin(), all.end());
  for (std::size_t i = 0; i < all.size(); ++i) ASSERT_EQ(all[i], i);
  EXPECT_FALSE(std::is_sorted(a.train.begin(), a.train.end()));  // shuffled

  const SplitIndices again = split_dataset(ds, {0.7, 0.2, 0.1}, 42);
  EXPECT_EQ(a.train, again.train);
  EXPECT_EQ(a.test, again.test);
  EXPECT_NE(a.train, split_dataset(ds, {0.7, 0.2, 0.1}, 43).train);
  // Fractions are normalised by their sum.
  EXPECT_EQ(a.train, split_dataset(ds, {7, 2, 1}, 42).train);

  EXPECT_NE(error_of([&] { split_dataset(ds, {-1, 1, 1}, 0); }).find("fractions"), std::string::npos);
  EXPECT_EQ(split_dataset(numbered(3), {1, 0, 0}, 0).train.size(), 3u);
}

TEST(Split, IdentityDisjoint) {
  const ListDataset ds = numbered(1200, 6);  // 200 identities of 6 images
  const SplitIndices split = split_dataset(ds, {0.8, 0.1, 0.1}, 7, /*by_group=*/true);
  std::map<std::string, std::set<int>> parts_of;
  int part = 0;
  for (const auto* indices : {&split.train, &split.valid, &split.test}) {
    for (std::size_t i : *indices) parts_of[ds.sample(i).group].insert(part);
    ++part;
  }
  EXPECT_EQ(parts_of.size(), 200u);
  for (const auto& [group, parts] : parts_of) ASSERT_EQ(parts.size(), 1u) << group;
  EXPECT_EQ(split.train.size() + split.valid.size() + split.test.size(), 1200u);
  EXPECT_NEAR(split.train.size(), 960.0, 6.0);
  EXPECT_NEAR(split.valid.size(), 120.0, 6.0);
}

TEST(Split, IdentityDisjointOnRealCacd) {
  const fs::path csv = shared_data / "labels" / "coral_cacd_valid.csv";
  EDAT_SKIP_WITHOUT(csv);
  CacdDataset ds(labels_only(csv.string()));
  const SplitIndices split = split_dataset(ds, {0.8, 0.1, 0.1}, 1, true);
  std::set<std::string> train_ids, test_ids;
  for (std::size_t i : split.train) train_ids.insert(ds.sample(i).group);
  for (std::size_t i : split.test) test_ids.insert(ds.sample(i).group);
  for (const std::string& id : test_ids) ASSERT_FALSE(train_ids.contains(id)) << id;
  EXPECT_NEAR(static_cast<double>(split.train.size()) / ds.size(), 0.8, 0.01);
}

TEST(Split, WriteCsvReadsBack) {
  TempDir tmp("test_datasets");
  touch(tmp.path() / "img" / "a, b.jpg");
  touch(tmp.path() / "img" / "c.jpg");
  std::vector<Sample> samples(2);
  samples[0].path = (tmp.path() / "img" / "a, b.jpg").string(), samples[0].age = 31.5f;
  samples[1].path = (tmp.path() / "img" / "c.jpg").string(), samples[1].age = 7;
  write_samples_csv(tmp.path() / "list.csv", samples, tmp.path());
  std::ifstream in(tmp.path() / "list.csv");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text, "path,age\n\"img/a, b.jpg\",31.5\nimg/c.jpg,7\n");
  DatasetOptions options;
  options.csv = (tmp.path() / "list.csv").string();
  CsvDataset back(options);
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back.sample(0).path, samples[0].path);
  EXPECT_EQ(back.sample(0).age, 31.5f);
}

// ---------------------------------------------------------------------------------------------------------------
// The demo face generator (data/demo_faces.h)

namespace {
std::string file_bytes(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}
}  // namespace

TEST(DemoFaces, ReadsBackThroughAppaReal) {
  TempDir tmp("test_datasets");
  DemoFacesOptions options;
  options.out = (tmp.path() / "demo").string();
  options.count = 60;
  options.size = 64;
  options.seed = 3;
  const DemoFacesSummary summary = write_demo_faces(options);
  EXPECT_EQ(summary.train, 36);
  EXPECT_EQ(summary.valid, 12);
  EXPECT_EQ(summary.test, 12);

  const std::map<std::string, std::size_t> expected = {{"train", 36}, {"valid", 12}, {"test", 12}};
  for (const auto& [split, count] : expected) {
    DatasetOptions read;
    read.root = options.out;
    read.split = split;
    AppaRealDataset faces(read);  // checks that every face crop exists
    EXPECT_EQ(faces.size(), count);
    EXPECT_EQ(faces.report().skipped_total(), 0u);
    read.face_crops = false;
    read.target = AppaTarget::real;
    AppaRealDataset full(read);
    EXPECT_EQ(full.size(), count);
    for (std::size_t i = 0; i < count; ++i) {
      ASSERT_GE(faces.sample(i).age, 1.0f);
      ASSERT_LE(faces.sample(i).age, 90.0f);
      ASSERT_NEAR(faces.sample(i).age, full.sample(i).age, 25.0);  // apparent vs real
    }
    const Image face = decode_image_file(faces.sample(0).path), picture = decode_image_file(full.sample(0).path);
    EXPECT_EQ(face.width, 64);
    EXPECT_EQ(picture.width, 102);
  }
  const CsvTable gt = read_csv(fs::path(options.out) / "gt_avg_valid.csv");
  EXPECT_EQ(gt.header,
            (std::vector<std::string>{"file_name", "num_ratings", "apparent_age_avg", "apparent_age_std", "real_age"}));
  EXPECT_EQ(gt.rows[0][0], "000036.jpg");  // numbers run on across the splits, as in APPA-REAL

  // The same seed writes the same bytes; another seed does not.
  const fs::path first = fs::path(options.out) / "train" / "000005.jpg_face.jpg";
  options.out = (tmp.path() / "again").string();
  write_demo_faces(options);
  EXPECT_EQ(file_bytes(first), file_bytes(tmp.path() / "again" / "train" / "000005.jpg_face.jpg"));
  EXPECT_EQ(file_bytes(tmp.path() / "demo" / "gt_avg_test.csv"), file_bytes(tmp.path() / "again" / "gt_avg_test.csv"));
  options.out = (tmp.path() / "other").string();
  options.seed = 4;
  write_demo_faces(options);
  EXPECT_NE(file_bytes(first), file_bytes(tmp.path() / "other" / "train" / "000005.jpg_face.jpg"));
}

// The age is in the pixels: the hair above the forehead brightens as it greys, and the forehead gets lines.
TEST(DemoFaces, PixelsCarryTheAge) {
  const int size = 128, n = 200;
  std::vector<double> ages, hair, forehead;
  for (int i = 0; i < n; ++i) {
    const double age = 1 + 84.0 * i / (n - 1);
    const Image face = draw_demo_face(age, size, 11, i);
    double brightness = 0, texture = 0;
    int count = 0, texture_count = 0;
    for (int y = static_cast<int>(0.07 * size); y < 0.12 * size; ++y)
      for (int x = static_cast<int>(0.42 * size); x < 0.58 * size; ++x, ++count)
        brightness += (face.at(y, x, 0) + face.at(y, x, 1) + face.at(y, x, 2)) / 3.0;
    // Forehead texture: mean absolute vertical difference of the green channel.
    for (int y = static_cast<int>(0.33 * size); y < 0.42 * size; ++y)
      for (int x = static_cast<int>(0.42 * size); x < 0.58 * size; ++x, ++texture_count)
        texture += std::abs(face.at(y + 1, x, 1) - face.at(y, x, 1));
    ages.push_back(age), hair.push_back(brightness / count), forehead.push_back(texture / texture_count);
  }
  const auto correlation = [](const std::vector<double>& a, const std::vector<double>& b) {
    double ma = 0, mb = 0, sab = 0, saa = 0, sbb = 0;
    for (std::size_t i = 0; i < a.size(); ++i) ma += a[i] / a.size(), mb += b[i] / b.size();
    for (std::size_t i = 0; i < a.size(); ++i)
      sab += (a[i] - ma) * (b[i] - mb), saa += (a[i] - ma) * (a[i] - ma), sbb += (b[i] - mb) * (b[i] - mb);
    return sab / std::sqrt(saa * sbb);
  };
  const double hair_r = correlation(ages, hair), forehead_r = correlation(ages, forehead);
  std::printf("correlation with age: hair brightness %.3f, forehead texture %.3f\n", hair_r, forehead_r);
  EXPECT_GT(hair_r, 0.7);
  EXPECT_GT(forehead_r, 0.5);
}
