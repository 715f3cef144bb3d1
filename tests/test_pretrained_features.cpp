// The real ImageNet MobileNetV2 that scripts/get_pretrained.sh installs (pretrained/mobilenet_v2_imagenet.safetensors,
// converted by edat's convert_weights --match-by-order) gives, on real photos from ../shared/data/faces, the features
// torchvision gives with the same weights (fixture: scripts/fixtures_pretrained.py, Debian's python3-torch). Skipped
// with a message when the weights or the photos are absent (a fresh clone has neither).
#include <gtest/gtest.h>

#include <filesystem>
#include <numeric>

#include "data/decode.h"
#include "data/transforms.h"
#include "models/backbone.h"
#include "tests/test_util.h"
#include "weights/pretrained.h"
#include "weights/safetensors.h"

using namespace edat;
namespace fs = std::filesystem;

namespace {

Tensor find(const nn::NamedTensors& tensors, const std::string& key) {
  for (const auto& [name, tensor] : tensors)
    if (name == key) return tensor;
  ADD_FAILURE() << "the fixture lacks " << key;
  return Tensor();
}

TEST(PretrainedMobileNetV2, FeaturesOnRealPhotosEqualTorchvisions) {
  const fs::path weights = fs::path(EDAT_SOURCE_DIR) / "pretrained" / "mobilenet_v2_imagenet.safetensors";
  if (!fs::exists(weights)) GTEST_SKIP() << "not present: " << weights.string() << " (run scripts/get_pretrained.sh)";
  const fs::path photos = fs::path(EDAT_SHARED_DATA) / "faces";
  EDAT_SKIP_WITHOUT(photos);
  const nn::NamedTensors fixture =
      weights::read_safetensors(std::string(EDAT_FIXTURES_DIR) + "/mobilenet_v2_imagenet_features.safetensors");

  auto model = models::make_model("mobilenet_v2", 1);
  const nn::LoadReport report = weights::load_pretrained(*model, weights.string());
  EXPECT_EQ(report.skipped, (std::vector<std::string>{"classifier.1.weight", "classifier.1.bias"}));
  model->eval();
  const data::Normalize normalize;
  for (const char* name : {"2008_002079.jpg", "2009_004587.jpg", "bald_guys.jpg"}) {
    SCOPED_TRACE(name);
    const data::Image image = data::decode_image_file((photos / name).string());
    const std::int64_t pixel_sum = std::accumulate(image.pixels.begin(), image.pixels.end(), std::int64_t{0});
    ASSERT_EQ(pixel_sum, find(fixture, std::string("pixel_sum/") + name).item()) << "PIL decoded other pixels";
    const data::Image crop = data::crop(image, (image.height - 224) / 2, (image.width - 224) / 2, 224, 224);
    const Tensor x = normalize.to_tensor(crop).untracked_view({1, 3, 224, 224});
    EXPECT_TRUE(edat::testing::all_close(model->features(x), find(fixture, std::string("features/") + name), 1e-4, 1e-4));
  }
}

}  // namespace
