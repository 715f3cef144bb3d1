// Square face crops, and the crop_faces pipeline: detect faces in every image of a dataset, keep the images with
// exactly one face, write a square crop around it, and list the crops in CSV files (the "csv" dataset format of
// data/datasets.h, plus the face box), optionally split into seeded train/valid/test lists.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "data/faces/face_aligner.h"
#include "data/faces/face_detector.h"
#include "data/image.h"
#include "data/split.h"

namespace edat::data {

// The square of side max(width, height) * (1 + 2 * margin) centred on the box, resized to size x size (bilinear,
// antialiased). Parts of the square outside the image repeat the image's edge pixels.
Image crop_face(const Image& image, const FaceBox& box, double margin, int size);
// The margin of crop_faces and predict_age --detect-face (--margin): a crop shows the whole head.
inline constexpr double kDefaultMargin = 0.4;

struct CropFacesOptions {
  std::string out;        // output folder: the crops, faces.csv, and train/valid/test.csv
  std::string data_root;  // crops keep their source's path relative to this (else the file name)
  int size = 224;         // side of the crops in pixels
  double margin = kDefaultMargin;  // added on each side of the face box, as a fraction of its side
  std::string align_landmarks;     // non-empty: aligned chips (face_aligner.h) with this landmark model, not boxes
  double chip_padding = kDefaultChipPadding;  // aligned chips: dlib's padding
  int upsample = kDefaultUpsample;  // detector upsampling (face_detector.h)
  int workers = 1;        // threads, each with its own detector
  int jpeg_quality = 95;
  std::optional<SplitFractions> split;  // also write train.csv, valid.csv, test.csv
  std::uint64_t seed = 0;               // of the split
  bool split_by_group = false;          // identity-disjoint split (Sample::group, e.g. CACD names)
  bool progress = false;                // a line on stderr every 10 s
};

struct CropFacesReport {
  std::size_t images = 0, kept = 0, no_face = 0, multi_face = 0, unreadable = 0;
  std::vector<std::string> unreadable_examples;  // the first few, with the decoder's reason
  std::vector<Sample> crops;                     // the kept crops (path = the crop file), in the input's order
};

// Runs the pipeline over `input`; samples whose age is not finite are written with an empty age.
CropFacesReport crop_faces(const Dataset& input, const CropFacesOptions& options);

}  // namespace edat::data
