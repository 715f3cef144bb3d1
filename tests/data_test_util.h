// Helpers for the data/ tests: fixture images from safetensors, pixel comparison, synthetic images, temp folders.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>

#include "data/image.h"
#include "tensor/random.h"
#include "tensor/tensor.h"
#include "weights/safetensors.h"

namespace edat::testing {

// All tensors of a fixture file by name.
inline std::map<std::string, Tensor> load_fixture(const std::string& path) {
  std::map<std::string, Tensor> out;
  for (auto& [name, tensor] : weights::read_safetensors(path)) out[name] = tensor;
  return out;
}

// An [H, W, 3] tensor of integers 0..255 as an Image.
inline data::Image image_from_hwc(const Tensor& t) {
  EXPECT_EQ(t.dim(), 3);
  data::Image image(static_cast<int>(t.size(1)), static_cast<int>(t.size(0)));
  const std::vector<float> values = t.to_vector<float>();
  for (std::size_t i = 0; i < values.size(); ++i) image.pixels[i] = static_cast<std::uint8_t>(values[i]);
  return image;
}

// Passes when both images have the same size and no channel value differs by more than `tolerance`;
// otherwise names the worst pixel.
inline ::testing::AssertionResult images_near(const data::Image& actual, const data::Image& expected, int tolerance) {
  if (actual.width != expected.width || actual.height != expected.height) {
    return ::testing::AssertionFailure() << "sizes differ: " << actual.width << "x" << actual.height << " vs "
                                         << expected.width << "x" << expected.height;
  }
  int worst = 0;
  std::size_t worst_i = 0, over = 0;
  for (std::size_t i = 0; i < actual.pixels.size(); ++i) {
    const int d = std::abs(int(actual.pixels[i]) - int(expected.pixels[i]));
    if (d > tolerance) ++over;
    if (d > worst) worst = d, worst_i = i;
  }
  if (worst <= tolerance) return ::testing::AssertionSuccess();
  const std::size_t px = worst_i / 3;
  return ::testing::AssertionFailure() << over << " values differ by more than " << tolerance << "; worst at (y "
                                       << px / actual.width << ", x " << px % actual.width << ", c " << worst_i % 3
                                       << "): " << int(actual.pixels[worst_i]) << " vs "
                                       << int(expected.pixels[worst_i]);
}

// A deterministic pseudo-random image: smooth gradients plus noise (so JPEG compresses it sensibly).
inline data::Image synthetic_image(int width, int height, std::uint64_t seed = 1) {
  data::Image image(width, height);
  Generator rng(seed);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      const double noise = 20 * rng.next_unit();
      image.at(y, x, 0) = static_cast<std::uint8_t>(std::min(255.0, 200.0 * x / width + noise));
      image.at(y, x, 1) = static_cast<std::uint8_t>(std::min(255.0, 200.0 * y / height + noise));
      image.at(y, x, 2) = static_cast<std::uint8_t>(std::min(255.0, 128 + 100 * std::sin(x * 0.3 + y * 0.2) + noise));
    }
  }
  return image;
}

// A fresh empty folder under the system temp dir, removed with everything in it at scope exit.
class TempDir {
 public:
  explicit TempDir(const std::string& tag) {
    static int counter = 0;
    path_ = std::filesystem::temp_directory_path() /
            ("edat_" + tag + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace edat::testing
