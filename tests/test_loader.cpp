// The loader: batching, drop-last, seeded shuffling, determinism across worker counts, bounded prefetching, the
// decoded-image cache, bad images (counted, skipped, named), clear errors, pinned CUDA batches (skipped without a
// GPU), and real UTKFace images (skipped without ../shared).
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <set>
#include <thread>

#include "data/encode.h"
#include "data/loader.h"
#include "data_test_util.h"
#include "tensor/backend.h"
#include "test_util.h"

namespace edat::data {
namespace {

using edat::testing::TempDir;
using edat::testing::throws_with;

// A folder of n images (JPEG and PNG, sizes varying between 40x32 and 52x44); the age of image i is 20 + i.
std::vector<Sample> write_images(const TempDir& dir, int n) {
  std::vector<Sample> samples;
  for (int i = 0; i < n; ++i) {
    const Image image = edat::testing::synthetic_image(40 + (i % 4) * 4, 32 + (i % 3) * 6, 100 + i);
    const std::string path = dir.file("img_" + std::to_string(i) + (i % 2 ? ".png" : ".jpg"));
    write_image(path, image, 92);
    samples.push_back({.path = path, .age = 20.0f + i});
  }
  return samples;
}

Compose augmenting() {
  Compose t;
  t.add<RandomResizedCrop>(24, 24, std::array<float, 2>{0.5f, 1.0f})
      .add<RandomHorizontalFlip>()
      .add<RandomRotation>(10.0f)
      .add<ColorJitter>(0.3f, 0.3f, 0.3f, 0.05f);
  return t;
}

Compose fixed_size(int size = 24) {
  Compose t;
  t.add<Resize>(size, size);
  return t;
}

std::vector<Batch> whole_epoch(Loader& loader, std::uint64_t epoch) {
  loader.start_epoch(epoch);
  std::vector<Batch> batches;
  while (auto b = loader.next()) batches.push_back(std::move(*b));
  return batches;
}

TEST(Loader, BatchesInOrderWithoutShuffle) {
  TempDir dir("loader");
  ListDataset dataset("toy", write_images(dir, 23));
  Loader loader(dataset, fixed_size(), {.batch_size = 5, .shuffle = false, .workers = 2});
  EXPECT_EQ(loader.batches_per_epoch(), 5u);
  const auto batches = whole_epoch(loader, 0);
  ASSERT_EQ(batches.size(), 5u);
  std::size_t expect = 0;
  for (std::size_t b = 0; b < batches.size(); ++b) {
    const std::int64_t n = b < 4 ? 5 : 3;
    EXPECT_EQ(batches[b].index, b);
    EXPECT_EQ(batches[b].images.shape(), (Shape{n, 3, 24, 24}));
    EXPECT_EQ(batches[b].ages.shape(), (Shape{n}));
    for (std::int64_t k = 0; k < n; ++k, ++expect) {
      EXPECT_EQ(batches[b].indices[k], expect);
      EXPECT_EQ(batches[b].ages.at({k}), 20.0 + expect);
    }
  }
  // The pixels are the normalised resized image.
  const Image first = resize(decode_image_file(dataset.sample(0).path), 24, 24);
  const Tensor want = Normalize{}.to_tensor(first);
  const std::vector<float> got = batches[0].images.to_vector<float>();
  EXPECT_EQ(std::vector<float>(got.begin(), got.begin() + want.numel()), want.to_vector<float>());
  EXPECT_EQ(loader.stats().images_loaded, 23u);
}

TEST(Loader, DropLastAndShuffle) {
  TempDir dir("loader");
  ListDataset dataset("toy", write_images(dir, 23));
  Loader loader(dataset, fixed_size(), {.batch_size = 5, .drop_last = true, .seed = 9, .workers = 1});
  EXPECT_EQ(loader.batches_per_epoch(), 4u);
  const auto e0 = whole_epoch(loader, 0), e1 = whole_epoch(loader, 1);
  ASSERT_EQ(e0.size(), 4u);
  std::vector<std::size_t> order0, order1;
  for (const Batch& b : e0) order0.insert(order0.end(), b.indices.begin(), b.indices.end());
  for (const Batch& b : e1) order1.insert(order1.end(), b.indices.begin(), b.indices.end());
  EXPECT_EQ(order0.size(), 20u);
  EXPECT_EQ(std::set<std::size_t>(order0.begin(), order0.end()).size(), 20u);
  EXPECT_NE(order0, order1);  // a new order each epoch
  const auto full0 = loader.epoch_order(0);
  EXPECT_EQ(std::vector<std::size_t>(full0.begin(), full0.begin() + 20), order0);
  std::vector<std::size_t> sorted = full0;
  std::sort(sorted.begin(), sorted.end());
  for (std::size_t i = 0; i < sorted.size(); ++i) EXPECT_EQ(sorted[i], i);
  // The same seed gives the same order; another seed another.
  Loader same(dataset, fixed_size(), {.batch_size = 5, .seed = 9, .workers = 0});
  Loader other(dataset, fixed_size(), {.batch_size = 5, .seed = 10, .workers = 0});
  EXPECT_EQ(same.epoch_order(1), loader.epoch_order(1));
  EXPECT_NE(other.epoch_order(1), loader.epoch_order(1));
}

TEST(Loader, BatchesDoNotDependOnTheWorkerCount) {
  TempDir dir("loader");
  ListDataset dataset("toy", write_images(dir, 30));
  auto run = [&](int workers) {
    Loader loader(dataset, augmenting(), {.batch_size = 4, .seed = 3, .workers = workers, .prefetch = 3});
    std::vector<std::vector<float>> out;
    for (std::uint64_t epoch : {0, 1}) {
      for (const Batch& b : whole_epoch(loader, epoch)) {
        out.push_back(b.images.to_vector<float>());
        out.push_back(b.ages.to_vector<float>());
      }
    }
    return out;
  };
  const auto one = run(1), three = run(3), inline_ = run(0);
  ASSERT_EQ(one.size(), 32u);  // 8 batches x 2 tensors x 2 epochs
  for (std::size_t k = 0; k < one.size(); ++k) {
    EXPECT_EQ(one[k], three[k]) << "tensor " << k;  // bit-identical
    EXPECT_EQ(one[k], inline_[k]) << "tensor " << k;
  }
  EXPECT_NE(one[0], one[16]);  // epoch 1 differs from epoch 0
}

// Data-parallel shards (dist/): each global batch is cut into contiguous slices, one per process; together they are
// the single-process batch (same samples, same augmented pixels), disjoint across shards, covering the epoch, and a
// shard resumed mid-epoch continues with the same slices.
TEST(Loader, ShardsSplitEachGlobalBatch) {
  TempDir dir("loader");
  ListDataset dataset("toy", write_images(dir, 23));
  const LoaderOptions whole{.batch_size = 5, .seed = 4, .workers = 1};
  Loader single(dataset, augmenting(), whole);
  const auto expected = whole_epoch(single, 1);
  for (int shards : {2, 3}) {
    std::vector<std::vector<Batch>> parts;
    for (int k = 0; k < shards; ++k) {
      LoaderOptions options = whole;
      options.shard = k, options.shards = shards;
      Loader loader(dataset, augmenting(), options);
      EXPECT_EQ(loader.batches_per_epoch(), single.batches_per_epoch());
      parts.push_back(whole_epoch(loader, 1));
      // Resuming at batch 2 gives this shard's batches 2.. again.
      loader.start_epoch(1, 2);
      auto resumed = loader.next();
      ASSERT_TRUE(resumed);
      EXPECT_EQ(resumed->index, 2u);
      EXPECT_EQ(resumed->indices, parts.back()[2].indices);
    }
    std::set<std::size_t> seen;
    for (std::size_t b = 0; b < expected.size(); ++b) {
      std::vector<std::size_t> joined;
      std::vector<float> pixels;
      for (int k = 0; k < shards; ++k) {
        const Batch& part = parts[static_cast<std::size_t>(k)][b];
        EXPECT_EQ(part.index, b);
        EXPECT_LE(part.size(), expected[b].size() / static_cast<std::size_t>(shards) + 1);
        joined.insert(joined.end(), part.indices.begin(), part.indices.end());
        const std::vector<float> p = part.images.to_vector<float>();
        pixels.insert(pixels.end(), p.begin(), p.end());
        for (std::size_t i : part.indices) EXPECT_TRUE(seen.insert(i).second);
      }
      EXPECT_EQ(joined, expected[b].indices) << shards << " shards, batch " << b;
      EXPECT_EQ(pixels, expected[b].images.to_vector<float>()) << shards << " shards, batch " << b;  // bit-identical
    }
    EXPECT_EQ(seen.size(), dataset.size());  // disjoint (no insert failed) and covering
    seen.clear();
  }
  EXPECT_TRUE(throws_with([&] { Loader(dataset, augmenting(), {.shard = 2, .shards = 2}); }, {"shard 2 of 2"}));
}

TEST(Loader, DecodingOnlyTheBoxGivesTheSameBatches) {
  // JPEGs whose transforms start with a crop are decoded only in that box (LoaderOptions::decode_boxes): the
  // batches equal those of whole decodes, for a random crop and a random resized crop, JPEG and PNG samples.
  TempDir dir("loader");
  ListDataset dataset("toy", write_images(dir, 12));
  Compose random_crop;
  random_crop.add<RandomCrop>(30, 30).add<RandomHorizontalFlip>().add<ColorJitter>(0.3f, 0.3f, 0.3f, 0.05f);
  for (const Compose& transforms : {random_crop, augmenting()}) {
    auto run = [&](bool decode_boxes) {
      Loader loader(dataset, transforms, {.batch_size = 5, .seed = 2, .workers = 1, .decode_boxes = decode_boxes});
      std::vector<std::vector<float>> out;
      for (const Batch& b : whole_epoch(loader, 1)) out.push_back(b.images.to_vector<float>());
      return out;
    };
    EXPECT_EQ(run(true), run(false)) << transforms.describe();
  }
}

// The top-left 8x8 pixels: a box that a file cut short in its lower half still holds.
class TopLeftCrop : public Transform {
 public:
  Image apply(const Image& image, Generator&) const override { return crop(image, 0, 0, 8, 8); }
  std::string describe() const override { return "TopLeftCrop(8)"; }
  std::optional<Box> input_box(int, int, Generator&) const override { return Box{0, 0, 8, 8}; }
};

TEST(Loader, DecodingOnlyTheBoxStillSkipsATruncatedJpeg) {
  // The box is decodable, but the file is cut short (its end-of-image marker is missing): skipped and counted, as
  // with whole decodes.
  TempDir dir("loader");
  std::vector<Sample> samples = write_images(dir, 3);
  const std::vector<std::uint8_t> jpeg = encode_jpeg(edat::testing::synthetic_image(64, 64), 95);
  write_file_bytes(dir.file("truncated.jpg"), std::vector<std::uint8_t>(jpeg.begin(), jpeg.begin() + jpeg.size() / 2));
  samples.push_back({.path = dir.file("truncated.jpg"), .age = 99});
  ListDataset dataset("with_truncated", samples);
  Compose top_left;
  top_left.add<TopLeftCrop>();
  Loader loader(dataset, top_left,
                {.batch_size = 4, .shuffle = false, .workers = 0, .warn = [](const std::string&) {}});
  const auto epoch = whole_epoch(loader, 0);
  ASSERT_EQ(epoch.size(), 1u);
  EXPECT_EQ(epoch[0].size(), 3u);
  EXPECT_EQ(loader.stats().distinct_bad_files, 1u);
}

TEST(Loader, HeldBatchesAreNeverReused) {
  // Batch buffers are pooled; one the caller still holds (or a view of it) must not be overwritten.
  TempDir dir("loader");
  ListDataset dataset("toy", write_images(dir, 24));
  Loader loader(dataset, augmenting(), {.batch_size = 4, .seed = 8, .workers = 2, .prefetch = 2});
  const auto held = whole_epoch(loader, 0);
  std::vector<std::vector<float>> before;
  for (const Batch& b : held) before.push_back(b.images.to_vector<float>());
  const Tensor view = held[0].images.untracked_view({-1});
  for (std::uint64_t epoch = 1; epoch < 4; ++epoch) {
    loader.start_epoch(epoch);
    while (auto b = loader.next()) {
      for (const Batch& h : held) EXPECT_NE(b->images.raw_data(), h.images.raw_data());
    }
  }
  for (std::size_t k = 0; k < held.size(); ++k) EXPECT_EQ(held[k].images.to_vector<float>(), before[k]);
  EXPECT_EQ(view.to_vector<float>(), before[0]);
}

// A dataset that records which samples the loader asked for.
class CountingDataset : public Dataset {
 public:
  explicit CountingDataset(std::vector<Sample> samples) : Dataset("counting") { samples_ = std::move(samples); }
  const Sample& sample(std::size_t i) const override {
    std::lock_guard<std::mutex> lock(mutex_);
    touched_.insert(i);
    return samples_.at(i);
  }
  std::size_t touched() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return touched_.size();
  }

 private:
  mutable std::mutex mutex_;
  mutable std::set<std::size_t> touched_;
};

TEST(Loader, PrefetchIsBounded) {
  TempDir dir("loader");
  CountingDataset dataset(write_images(dir, 40));
  Loader loader(dataset, fixed_size(), {.batch_size = 4, .shuffle = false, .workers = 3, .prefetch = 2});
  loader.start_epoch(0);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the workers fill the queue, then wait
  EXPECT_EQ(dataset.touched(), 8u);                             // 2 batches of 4, no more
  ASSERT_TRUE(loader.next().has_value());
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(dataset.touched(), 12u);
  std::size_t batches = 1;
  while (loader.next()) ++batches;
  EXPECT_EQ(batches, 10u);
}

TEST(Loader, RestartingAnEpochDropsTheOldBatches) {
  TempDir dir("loader");
  ListDataset dataset("toy", write_images(dir, 20));
  Loader loader(dataset, augmenting(), {.batch_size = 4, .seed = 5, .workers = 2});
  loader.start_epoch(0);
  ASSERT_TRUE(loader.next());
  loader.start_epoch(1);  // mid-epoch
  const auto first = loader.next();
  Loader fresh(dataset, augmenting(), {.batch_size = 4, .seed = 5, .workers = 0});
  fresh.start_epoch(1);
  const auto want = fresh.next();
  ASSERT_TRUE(first && want);
  EXPECT_EQ(first->indices, want->indices);
  EXPECT_EQ(first->images.to_vector<float>(), want->images.to_vector<float>());
}

TEST(Loader, CacheKeepsDecodedImages) {
  TempDir dir("loader");
  ListDataset dataset("toy", write_images(dir, 12));
  Loader cached(dataset, augmenting(), {.batch_size = 5, .seed = 2, .workers = 2, .cache_decoded = true});
  Loader plain(dataset, augmenting(), {.batch_size = 5, .seed = 2, .workers = 2});
  const auto a0 = whole_epoch(cached, 0), b0 = whole_epoch(plain, 0);
  std::filesystem::remove_all(dir.path());  // the files are gone: only the cache can serve epoch 1
  const auto a1 = whole_epoch(cached, 1);
  ASSERT_EQ(a0.size(), 3u);
  ASSERT_EQ(a1.size(), 3u);
  for (std::size_t b = 0; b < a0.size(); ++b) {
    EXPECT_EQ(a0[b].images.to_vector<float>(), b0[b].images.to_vector<float>());
    EXPECT_EQ(a1[b].size(), a0[b].size());
  }
  EXPECT_EQ(cached.stats().skipped, 0u);
}

TEST(Loader, BadImagesAreCountedSkippedAndNamed) {
  TempDir dir("loader");
  std::vector<Sample> samples = write_images(dir, 10);
  const std::vector<std::uint8_t> jpeg = encode_jpeg(edat::testing::synthetic_image(64, 64), 95);
  write_file_bytes(dir.file("empty.jpg"), {});
  write_file_bytes(dir.file("truncated.jpg"),
                   std::vector<std::uint8_t>(jpeg.begin(), jpeg.begin() + 2 * jpeg.size() / 3));
  const std::string text = "not an image";
  write_file_bytes(dir.file("text.jpg"), std::vector<std::uint8_t>(text.begin(), text.end()));
  for (const char* name : {"empty.jpg", "truncated.jpg", "text.jpg", "missing.jpg"}) {
    samples.push_back({.path = dir.file(name), .age = 99});
  }
  ListDataset dataset("with_bad", samples);
  std::vector<std::string> warnings;
  Loader loader(dataset, fixed_size(),
                {.batch_size = 4, .shuffle = false, .workers = 2, .named_skips = 3, .warn = [&](const std::string& w) {
                   warnings.push_back(w);
                 }});
  auto epoch = whole_epoch(loader, 0);
  // 14 samples in batches of 4: the third has two bad images, the fourth only bad ones and is not delivered.
  ASSERT_EQ(epoch.size(), 3u);
  std::size_t delivered = 0, skipped = 0;
  for (const Batch& b : epoch) {
    delivered += b.size(), skipped += b.skipped;
    EXPECT_EQ(b.images.size(0), static_cast<std::int64_t>(b.size()));
    for (std::size_t k = 0; k < b.size(); ++k) EXPECT_LT(b.indices[k], 10u);
  }
  EXPECT_EQ(delivered, 10u);
  EXPECT_EQ(skipped, 2u);
  EXPECT_EQ(epoch[2].skipped, 2u);
  LoaderStats stats = loader.stats();
  EXPECT_EQ(stats.skipped, 4u);
  EXPECT_EQ(stats.distinct_bad_files, 4u);
  EXPECT_EQ(stats.bad_files.size(), 3u);
  ASSERT_EQ(warnings.size(), 4u);  // three named, then one saying the rest are only counted
  EXPECT_NE(warnings[0].find("with_bad"), std::string::npos);
  EXPECT_NE(warnings[3].find("only counted"), std::string::npos);
  // A second epoch skips them again without retrying or warning.
  epoch = whole_epoch(loader, 1);
  EXPECT_EQ(loader.stats().skipped, 8u);
  EXPECT_EQ(warnings.size(), 4u);
  // A batch of only bad images is not delivered at all.
  ListDataset all_bad("all_bad", std::vector<Sample>(samples.end() - 4, samples.end()));
  Loader bad_loader(all_bad, fixed_size(), {.batch_size = 2, .workers = 1, .warn = [](const std::string&) {}});
  EXPECT_EQ(whole_epoch(bad_loader, 0).size(), 0u);
}

TEST(Loader, ClearErrors) {
  TempDir dir("loader");
  ListDataset empty("nothing", {});
  EXPECT_TRUE(throws_with([&] { Loader l(empty, fixed_size()); }, {"nothing", "empty"}));
  ListDataset dataset("toy", write_images(dir, 6));
  EXPECT_TRUE(throws_with([&] { Loader l(dataset, fixed_size(), {.batch_size = 0}); }, {"batch_size"}));
  EXPECT_TRUE(throws_with([&] { Loader l(dataset, fixed_size(), {.batch_size = 8, .drop_last = true}); },
                          {"drop_last", "no batch"}));
  // A transform that cannot apply names the sample, from next().
  Compose too_big;
  too_big.add<RandomCrop>(100, 100);
  Loader crop_loader(dataset, too_big, {.batch_size = 2, .shuffle = false, .workers = 2});
  EXPECT_TRUE(throws_with([&] { crop_loader.next(); }, {"sample 0", "img_0.jpg", "RandomCrop"}));
  // Images of different sizes cannot share a batch.
  Loader no_resize(dataset, Compose{}, {.batch_size = 3, .shuffle = false, .workers = 0});
  EXPECT_TRUE(throws_with([&] { no_resize.next(); }, {"sample 1", "after the transforms", "fixed-size"}));
}

TEST(Loader, PinnedBatchesOnCuda) {
  if (!cuda::is_available()) {
    TempDir dir("loader");
    ListDataset dataset("toy", write_images(dir, 2));
    EXPECT_TRUE(throws_with([&] { Loader l(dataset, fixed_size(), {.device = Device::cuda()}); },
                            {"cuda:0", "need a CUDA device", cuda::unavailable_reason()}));
  }
  EDAT_REQUIRE_CUDA();
  TempDir dir("loader");
  ListDataset dataset("toy", write_images(dir, 8));
  Loader loader(dataset, augmenting(), {.batch_size = 4, .seed = 1, .workers = 2, .device = Device::cuda()});
  Loader host(dataset, augmenting(), {.batch_size = 4, .seed = 1, .workers = 2});
  const auto on_gpu = whole_epoch(loader, 0), on_cpu = whole_epoch(host, 0);
  ASSERT_EQ(on_gpu.size(), 2u);
  for (std::size_t b = 0; b < on_gpu.size(); ++b) {
    EXPECT_TRUE(on_gpu[b].images.device().is_cuda());
    EXPECT_EQ(on_gpu[b].images.to_vector<float>(), on_cpu[b].images.to_vector<float>());
  }
}

TEST(LoaderShared, UtkFaceFolder) {
  const std::filesystem::path root = std::string(EDAT_SHARED_DIR) + "/data/utkface/images";
  if (!std::filesystem::is_directory(root)) GTEST_SKIP() << root << " is absent";
  std::vector<Sample> samples;
  for (const auto& entry : std::filesystem::directory_iterator(root)) {
    if (samples.size() == 64) break;
    const std::string name = entry.path().filename().string();
    samples.push_back({.path = entry.path().string(), .age = std::stof(name.substr(0, name.find('_')))});
  }
  ListDataset dataset("utkface", samples);
  Compose t;
  t.add<RandomCrop>(120, 120).add<RandomHorizontalFlip>().add<ColorJitter>(0.2f, 0.2f, 0.2f, 0.05f);
  Loader loader(dataset, t, {.batch_size = 16, .seed = 1, .workers = 2});
  const auto batches = whole_epoch(loader, 0);
  ASSERT_EQ(batches.size(), 4u);
  EXPECT_EQ(batches[0].images.shape(), (Shape{16, 3, 120, 120}));
  EXPECT_EQ(loader.stats().skipped, 0u);
}

}  // namespace
}  // namespace edat::data
