// crop_faces: detects faces with dlib's HOG frontal face detector in every image of a dataset, keeps the images
// with exactly one face, writes a square crop around it (with a margin, resized), and lists the crops in
// OUT/faces.csv (path,age,source,face box) and, with --split, in seeded OUT/train.csv, valid.csv, test.csv
// (path,age: the "csv" dataset). Prints how many images were kept, had no face, several faces, or were unreadable.
//
//   crop_faces --dataset cacd --data-root CACD2000 --out cacd-faces --split 0.8,0.1,0.1 --by-identity
//   crop_faces --dataset folder --data-root photos --out faces --upsample 1
#include <CLI/CLI.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <memory>

#include "data/datasets.h"
#include "data/faces/face_crop.h"
#include "tensor/error.h"

using namespace edat::data;

namespace {

// Every image under the root; the age is the file name's first field when that is a number (CACD, UTKFace).
std::unique_ptr<Dataset> folder_dataset(const std::string& root) {
  std::vector<Sample> samples;
  for (const std::string& path : list_image_files(root)) {
    Sample sample;
    sample.path = path;
    const auto age = age_from_file_name(std::filesystem::path(path).filename().string());
    sample.age = age ? static_cast<float>(*age) : std::numeric_limits<float>::quiet_NaN();
    samples.push_back(sample);
  }
  EDAT_CHECK(!samples.empty(), "crop_faces: no images (.jpg, .jpeg, .png, .bmp) under '" << root << "'");
  return std::make_unique<ListDataset>("folder", std::move(samples));
}

}  // namespace

int main(int argc, char** argv) {
  std::string kind = "folder";
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
  app.add_option(
         "--upsample", options.upsample,
         "Double the image this many times before detecting (faces >= 80 px at 0, >= 40 px at 1; 4x slower each)")
      ->capture_default_str()
      ->check(CLI::Range(0, 2));
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
    input.face_crops = !appa_full;
    options.data_root = input.root;
    if (!split.empty()) options.split = SplitFractions{split[0], split[1], split[2]};
    options.progress = true;
    const std::unique_ptr<Dataset> dataset = kind == "folder" ? folder_dataset(input.root) : open_dataset(kind, input);

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
