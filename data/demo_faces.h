// A procedurally drawn face dataset in the APPA-REAL layout, so that training runs on a fresh machine with no
// download (apps/make_demo_faces). Each face is drawn from its apparent age, which the pixels carry:
//   - wrinkles: forehead lines from about 25, crow's feet from about 40, cheek folds from about 35, each darker
//     with age;
//   - hair: a random dark base colour turning grey from about 35 (grey by about 75), a hairline receding after 40;
//   - proportions: children have rounder faces, bigger eyes set lower, and no wrinkles; eyes narrow with age;
// and the rest is nuisance: skin tone (a fixed range), hair colour, background, position and size jitter, noise.
// Everything is a function of (seed, image index), so a seed gives the same files everywhere.
#pragma once

#include <cstdint>
#include <string>

#include "data/image.h"

namespace edat::data {

struct DemoFacesOptions {
  std::string out;  // the dataset root: out/{train,valid,test}/, out/gt_avg_{train,valid,test}.csv
  int count = 600;  // images in all, split 60% / 20% / 20% into train / valid / test
  int size = 128;   // side of the face crops (X.jpg_face.jpg) in pixels
  std::uint64_t seed = 0;
  int jpeg_quality = 90;
  bool full_images = true;  // also write X.jpg: the face smaller, on a larger background, as APPA-REAL has
};

struct DemoFacesSummary {
  int train = 0, valid = 0, test = 0;
};

// Writes the dataset (creating folders; existing files of the same names are replaced).
DemoFacesSummary write_demo_faces(const DemoFacesOptions& options);

// One drawn face for apparent age `age`: `size` pixels square, the face filling `face_scale` of the width (1 for
// the crops, smaller for full images), with the nuisance drawn from (seed, index).
Image draw_demo_face(double age, int size, std::uint64_t seed, std::uint64_t index, double face_scale = 1.0);

}  // namespace edat::data
