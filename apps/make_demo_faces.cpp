// make_demo_faces: writes a small procedurally drawn face dataset in the APPA-REAL layout (train/ valid/ test/ +
// gt_avg_*.csv), whose apparent age is visible in the pixels (wrinkles, grey hair, proportions), so that training
// runs on a fresh machine with no download. See data/demo_faces.h for what is drawn.
//
//   make_demo_faces --out demo-faces [--count 600] [--size 128] [--seed 0]
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>

#include "data/demo_faces.h"
#include "tensor/error.h"

int main(int argc, char** argv) {
  edat::data::DemoFacesOptions options;
  bool no_full_images = false;
  CLI::App app{"Writes a procedurally drawn face dataset in the APPA-REAL layout (apparent age learnable from pixels)"};
  app.add_option("--out", options.out, "Dataset folder to write (train/ valid/ test/ and gt_avg_*.csv)")->required();
  app.add_option("--count", options.count, "Number of images, split 60/20/20 into train/valid/test")
      ->capture_default_str()
      ->check(CLI::Range(3, 1000000));
  app.add_option("--size", options.size, "Side of the face crops in pixels")
      ->capture_default_str()
      ->check(CLI::Range(32, 1024));
  app.add_option("--seed", options.seed, "Random seed (the same seed writes the same files)")->capture_default_str();
  app.add_option("--quality", options.jpeg_quality, "JPEG quality")->capture_default_str()->check(CLI::Range(1, 100));
  app.add_flag("--no-full-images", no_full_images, "Write only the face crops X.jpg_face.jpg, not the full X.jpg");
  CLI11_PARSE(app, argc, argv);
  options.full_images = !no_full_images;

  try {
    const auto start = std::chrono::steady_clock::now();
    const edat::data::DemoFacesSummary summary = edat::data::write_demo_faces(options);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("make_demo_faces: wrote %d train, %d valid, %d test faces (%dx%d) to %s in %.2f s\n", summary.train,
                summary.valid, summary.test, options.size, options.size, options.out.c_str(), seconds);
    std::printf("read them with the APPA-REAL reader: --dataset appa-real --data-root %s\n", options.out.c_str());
  } catch (const std::exception& e) {  // edat::Error, or a filesystem error creating the folders
    std::fprintf(stderr, "make_demo_faces: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
