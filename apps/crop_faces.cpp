// crop_faces: detects faces with dlib's HOG frontal face detector in every image of a dataset, keeps the images
// with exactly one face, writes a square crop around it (with a margin, resized), and lists the crops in
// OUT/faces.csv (path,age,source,face box) and, with --split, in seeded OUT/train.csv, valid.csv, test.csv
// (path,age: the "csv" dataset). A folder's images get ages only from --age-from-name PATTERN. Prints how many
// images were kept, had no face, several faces, or were unreadable.
//
//   crop_faces --dataset cacd --data-root CACD2000 --out cacd-faces --split 0.8,0.1,0.1 --by-identity
//   crop_faces --dataset folder --data-root UTKFace --out faces --age-from-name '^([0-9]+)_'
#include <CLI/CLI.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <memory>
#include <optional>
#include <regex>

#include "apps/project_files.h"
#include "data/datasets.h"
#include "data/faces/face_crop.h"
#include "tensor/error.h"

using namespace edat::data;

namespace {

// The age in a file name, by a regular expression whose first group is the age: "^([0-9]+)_" reads UTKFace's and
// CACD's AGE_... names. NaN (an empty age column) when the name does not match or the group is not a number.
float age_from_name(const std::string& file_name, const std::regex& pattern) {
  std::smatch match;
  if (!std::regex_search(file_name, match, pattern) || match.size() < 2) return std::numeric_limits<float>::quiet_NaN();
  const std::string text = match[1].str();
  char* end = nullptr;
  const double age = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || !std::isfinite(age)) return std::numeric_limits<float>::quiet_NaN();
  return static_cast<float>(age);
}

// Every image under the root. Ages only with --age-from-name: a name like 2008_002079.jpg is not an age.
std::unique_ptr<Dataset> folder_dataset(const std::string& root, const std::string& age_pattern) {
  std::optional<std::regex> pattern;
  if (!age_pattern.empty()) {
    try {
      pattern.emplace(age_pattern, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      throw edat::Error("--age-from-name: '" + age_pattern + "' is not a regular expression: " + e.what());
    }
    EDAT_CHECK(pattern->mark_count() >= 1,
               "--age-from-name: '" << age_pattern << "' has no group: put the age in parentheses, e.g. ^([0-9]+)_");
  }
  std::vector<Sample> samples;
  std::size_t with_age = 0;
  for (const std::string& path : list_image_files(root)) {
    Sample sample;
    sample.path = path;
    sample.age = std::numeric_limits<float>::quiet_NaN();
    if (pattern) sample.age = age_from_name(std::filesystem::path(path).filename().string(), *pattern);
    with_age += std::isfinite(sample.age) ? 1 : 0;
    samples.push_back(sample);
  }
  EDAT_CHECK(!samples.empty(), "crop_faces: no images (.jpg, .jpeg, .png, .bmp) under '" << root << "'");
  if (pattern) {
    std::printf("crop_faces: --age-from-name matched %zu of %zu file names (the others get no age)\n", with_age,
                samples.size());
  }
  return std::make_unique<ListDataset>("folder", std::move(samples));
}

}  // namespace

int main(int argc, char** argv) {
  std::string kind = "folder", age_pattern;
  DatasetOptions input;
  CropFacesOptions options;
  std::vector<double> split;
  bool appa_full = false;
  CLI::App app{"Crops the one face of each image (dlib HOG detector); images with no face or several are dropped"};
  app.add_option("--dataset", kind,
                 "Input: folder (every image under --data-root) or a dataset reader: appa-real, "
                 "cacd, afad, utkface, csv")
      ->capture_default_str();
  app.add_option("--data-root", input.root, "Image root of the input")->required();
  app.add_option("--age-from-name", age_pattern,
                 "folder: read each age from the file name with this regular expression, its first group being the "
                 "age (UTKFace and CACD: '^([0-9]+)_'); without it the age column is empty");
  app.add_option("--csv", input.csv, "Label CSV of the input (CORAL split file, or the csv dataset's list)");
  app.add_option("--appa-split", input.split, "APPA-REAL split to crop (train, valid, test)")->capture_default_str();
  app.add_flag("--appa-full-images", appa_full, "APPA-REAL: crop the full images X.jpg rather than X.jpg_face.jpg");
  app.add_option("--out", options.out, "Output folder")->required();
  app.add_option("--size", options.size, "Side of the crops in pixels")
      ->capture_default_str()
      ->check(CLI::Range(8, 4096));
  app.add_option("--margin", options.margin, "Margin added on each side of the face box, as a fraction of its side")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 4.0));
  bool align = false;
  std::string landmarks = edat::apps::project_file(kDefaultLandmarks);
  app.add_flag("--align", align,
               "Aligned chips (eyes level, fixed scale: dlib's get_face_chip_details / extract_image_chip with its "
               "5-point landmarks) instead of box crops; --margin is then unused");
  app.add_option("--landmarks", landmarks, "--align: dlib's shape_predictor_5_face_landmarks.dat")
      ->capture_default_str();
  app.add_option("--chip-padding", options.chip_padding, "--align: padding around the face, as dlib's")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 4.0));
  app.add_option(
         "--upsample", options.upsample,
         "Double the image this many times before detecting (faces >= 80 px at 0, >= 40 px at 1; 4x slower each)")
      ->capture_default_str()
      ->check(CLI::Range(0, kMaxUpsample));
  app.add_option("--workers", options.workers, "Threads")->capture_default_str()->check(CLI::Range(1, 256));
  app.add_option("--quality", options.jpeg_quality, "JPEG quality of the crops")
      ->capture_default_str()
      ->check(CLI::Range(1, 100));
  app.add_option("--split", split, "Also write train/valid/test.csv with these fractions, e.g. 0.8,0.1,0.1")
      ->delimiter(',')
      ->expected(3);
  app.add_option("--seed", options.seed, "Seed of the split")->capture_default_str();
  app.add_flag("--by-identity", options.split_by_group, "Identity-disjoint split (CACD celebrity names)");
  CLI11_PARSE(app, argc, argv);

  try {
    if (align) options.align_landmarks = landmarks;
    input.face_crops = !appa_full;
    options.data_root = input.root;
    if (!split.empty()) options.split = SplitFractions{split[0], split[1], split[2]};
    options.progress = true;
    EDAT_CHECK(kind == "folder" || age_pattern.empty(),
               "--age-from-name is for --dataset folder; the " << kind << " reader knows its own ages");
    const std::unique_ptr<Dataset> dataset =
        kind == "folder" ? folder_dataset(input.root, age_pattern) : open_dataset(kind, input);

    const auto start = std::chrono::steady_clock::now();
    const CropFacesReport report = crop_faces(*dataset, options);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    for (const std::string& problem : report.unreadable_examples)
      std::fprintf(stderr, "  unreadable: %s\n", problem.c_str());
    std::printf("crop_faces: %zu images in %.1f s: %zu kept, %zu no face, %zu several faces, %zu unreadable\n",
                report.images, seconds, report.kept, report.no_face, report.multi_face, report.unreadable);
    std::printf("crops and faces.csv%s in %s\n", options.split ? ", train.csv, valid.csv, test.csv" : "",
                options.out.c_str());
  } catch (const std::exception& e) {  // edat::Error, or a filesystem error
    std::fprintf(stderr, "crop_faces: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
