// bench_loader: throughput of the data pipeline (decode + random crop + flip + colour jitter + normalise + batch)
// through data/loader.h, in images per second. See bench/README.md for measured numbers.
//
//   bench_loader --dataset utkface --data-root ../shared/data/utkface/images --img-size 120 --workers 2
//
// --dataset is any kind open_dataset knows (utkface, cacd, afad, appa-real, csv), or "folder": every image file
// under --data-root with age 0. The last line printed is `images_per_second=N` (the median of --repeats runs).
// --breakdown first times each stage on one thread.
#include <time.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <thread>

#include "data/datasets.h"
#include "data/decode.h"
#include "data/loader.h"
#include "data/transforms.h"

using namespace edat;
using namespace edat::data;

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }
// CPU time of the whole process (all threads): images per CPU-second is the per-core rate, which stays meaningful
// when other jobs share the machine.
double process_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

std::unique_ptr<Dataset> open(const std::string& kind, const std::string& root) {
  if (kind == "folder") {
    std::vector<Sample> samples;
    for (const std::string& path : list_image_files(root)) samples.push_back({.path = path, .age = 0});
    return std::make_unique<ListDataset>("folder", std::move(samples));
  }
  DatasetOptions options;
  options.root = root;
  return open_dataset(kind, options);
}

// Single-thread cost of each stage, in microseconds per image: image after image, as the loader runs them (each
// stage reads the previous one's output while it is in cache), over the first `count` images after one untimed
// pass. Two reference stages, timed in a loop of their own, are not part of the pipeline: the whole-image decode
// that the box decode replaces, and hue alone (it runs inside the fused colour jitter).
void breakdown(const Dataset& dataset, int img_size, const ColorJitter& jitter, std::size_t count,
               bool fast_upsampling) {
  count = std::min(count, dataset.size());
  const char* stages[] = {"read file",
                          "decode the random crop's box",
                          "horizontal flip (half of them)",
                          "colour jitter (b, c, s, h fused)",
                          "normalise into the batch",
                          "(decode the whole image instead)",
                          "(hue alone)"};
  constexpr std::size_t kStages = std::size(stages);
  const DecodeOptions decode_options{.fast_upsampling = fast_upsampling};
  const RandomCrop crop(img_size, img_size);
  const RandomHorizontalFlip flip;
  const Normalize normalize;
  std::vector<float> batch_slot(3 * static_cast<std::size_t>(img_size) * img_size);
  double micros[kStages] = {};
  std::size_t bytes = 0;
  for (int pass = 0; pass < 2; ++pass) {  // the first pass warms caches and the allocator
    std::fill(std::begin(micros), std::end(micros), 0.0);
    bytes = 0;
    for (std::size_t i = 0; i < count; ++i) {
      auto lap_start = Clock::now();
      auto lap = [&](std::size_t stage) {
        const auto now = Clock::now();
        micros[stage] += 1e6 * std::chrono::duration<double>(now - lap_start).count();
        lap_start = now;
      };
      const std::vector<std::uint8_t> file = read_file_bytes(dataset.sample(i).path);
      bytes += file.size();
      lap(0);
      Generator rng = sample_generator(0, 0, i);
      const Image box = decode_image_box(
          file.data(), file.size(), [&](int w, int h) { return crop.input_box(w, h, rng); }, decode_options);
      lap(1);
      const Image flipped = flip.apply(box, rng);
      lap(2);
      const Image jittered = jitter.apply(flipped, rng);
      lap(3);
      normalize(jittered, batch_slot.data());
      lap(4);
    }
    for (std::size_t i = 0; i < count; ++i) {  // the references
      const std::vector<std::uint8_t> file = read_file_bytes(dataset.sample(i).path);
      auto lap_start = Clock::now();
      const Image whole = decode_image(file, decode_options);
      micros[5] += 1e6 * seconds_since(lap_start);
      Generator rng = sample_generator(0, 0, i);
      const Image box = crop.apply(whole, rng);
      lap_start = Clock::now();
      (void)adjust_hue(box, 0.05);
      micros[6] += 1e6 * seconds_since(lap_start);
    }
  }
  std::printf("breakdown on %zu images (%.1f KB each on average), one thread:\n", count,
              static_cast<double>(bytes) / 1024.0 / static_cast<double>(count));
  for (std::size_t k = 0; k < kStages; ++k) {
    std::printf("  %-36s %8.1f us/image\n", stages[k], micros[k] / static_cast<double>(count));
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Data pipeline throughput: decode + random crop + flip + colour jitter + normalise + batch"};
  std::string kind = "utkface", root;
  int img_size = 120, workers = 2, batch_size = 64, resize_to = 0, repeats = 3;
  std::size_t images = 6000;
  bool no_jitter = false, cache = false, show_breakdown = false, fast_upsampling = false;
  float hue = 0.05f;
  app.add_option("--dataset", kind, "utkface, cacd, afad, appa-real, csv, or folder (every image, age 0)");
  app.add_option("--data-root", root, "the dataset's root folder")->required();
  app.add_option("--img-size", img_size, "random crop size (square)");
  app.add_option("--workers", workers, "loader worker threads (0: on the main thread)");
  app.add_option("--batch-size", batch_size, "images per batch");
  app.add_option("--images", images, "images timed per repeat (after one warm-up batch)");
  app.add_option("--repeats", repeats, "timed runs; the median is reported");
  app.add_option("--resize", resize_to, "resize the shorter side to this before the crop (0: no resize)");
  app.add_option("--hue", hue, "colour jitter's hue amplitude (brightness, contrast, saturation: 0.2)");
  app.add_flag("--no-jitter", no_jitter, "leave out the colour jitter");
  app.add_flag("--cache", cache, "cache decoded images in memory");
  app.add_flag("--fast-upsampling", fast_upsampling, "JPEG chroma upsampling without smoothing (not PIL-identical)");
  app.add_flag("--breakdown", show_breakdown, "first time each stage alone on one thread");
  CLI11_PARSE(app, argc, argv);
  keep_freed_memory_for_reuse();  // as train_resnet does (data/loader.h)

  try {
    const std::unique_ptr<Dataset> dataset = open(kind, root);
    const ColorJitter jitter(0.2f, 0.2f, 0.2f, hue);
    Compose transforms;
    if (resize_to > 0) transforms.add<Resize>(resize_to);
    transforms.add<RandomCrop>(img_size, img_size, 0, true).add<RandomHorizontalFlip>();
    if (!no_jitter) transforms.add(std::make_shared<ColorJitter>(jitter));
    std::printf("dataset %s: %zu images under %s\n", dataset->name().c_str(), dataset->size(), root.c_str());
    std::printf("transforms: %s -> Normalize; batch %d, %d workers, %u hardware threads\n",
                transforms.describe().c_str(), batch_size, workers, std::thread::hardware_concurrency());

    Loader loader(*dataset, transforms,
                  {.batch_size = batch_size,
                   .seed = 1,
                   .workers = workers,
                   .cache_decoded = cache,
                   .fast_upsampling = fast_upsampling});
    // After the loader is made: it sets the allocator up as it runs (data/loader.cpp).
    if (show_breakdown) breakdown(*dataset, img_size, jitter, 500, fast_upsampling);
    std::uint64_t epoch = 0;
    loader.start_epoch(epoch);
    auto next_batch = [&] {
      auto batch = loader.next();
      if (!batch) {
        loader.start_epoch(++epoch);
        batch = loader.next();
      }
      return batch->size();
    };
    std::vector<double> rates, cpu_rates;
    for (int r = 0; r < repeats; ++r) {
      next_batch();  // warm-up: the workers are busy from here on
      std::size_t done = 0;
      const auto start = Clock::now();
      const double cpu_start = process_cpu_seconds();
      while (done < images) done += next_batch();
      const double seconds = seconds_since(start), cpu = process_cpu_seconds() - cpu_start;
      rates.push_back(static_cast<double>(done) / seconds);
      cpu_rates.push_back(static_cast<double>(done) / cpu);
      std::printf("run %d: %zu images in %.3f s (%.3f CPU-s): %.0f images/s, %.0f per CPU-second\n", r + 1, done,
                  seconds, cpu, rates.back(), cpu_rates.back());
    }
    std::sort(rates.begin(), rates.end());
    std::sort(cpu_rates.begin(), cpu_rates.end());
    const double median = rates[rates.size() / 2];
    const LoaderStats stats = loader.stats();
    if (stats.skipped > 0) std::printf("skipped %zu unreadable images\n", stats.skipped);
    std::printf("per worker: %.0f images/s; per CPU-second (median): %.0f images\n", median / std::max(workers, 1),
                cpu_rates[cpu_rates.size() / 2]);
    std::printf("images_per_second=%.0f\n", median);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_loader: %s\n", e.what());
    return 1;
  }
  return 0;
}
