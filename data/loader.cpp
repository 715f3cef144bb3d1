// The threaded batch loader. See loader.h for the contract (determinism, prefetching, bad images).
#include "data/loader.h"

#include <malloc.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <iostream>

#include "tensor/backend.h"
#include "tensor/error.h"
#include "tensor/factory.h"

namespace edat::data {

// glibc hands every allocation above its mmap threshold (128 KiB at first) back to the kernel when it is freed, and
// trims freed memory at the top of a heap: a decoded 200x200 face (120 KiB), each transform's output and the file
// bytes then come back as fresh pages, each one page-faulted and zeroed by the kernel. That cost 3x the page faults and
// about 4% of the loader's CPU time (bench_loader, perf stat). Keeping freed memory in the process for reuse is the
// usual remedy (as jemalloc/tcmalloc do); memory stays at its peak instead of shrinking between batches. Done once;
// MALLOC_MMAP_THRESHOLD_ / MALLOC_TRIM_THRESHOLD_ in the environment still take precedence.
void keep_freed_memory_for_reuse() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (std::getenv("MALLOC_MMAP_THRESHOLD_") == nullptr) mallopt(M_MMAP_THRESHOLD, 32 << 20);
    if (std::getenv("MALLOC_TRIM_THRESHOLD_") == nullptr) mallopt(M_TRIM_THRESHOLD, 256 << 20);
  });
}

Loader::Loader(const Dataset& dataset, Compose transforms, LoaderOptions options)
    : dataset_(dataset), transforms_(std::move(transforms)), options_(std::move(options)) {
  const std::string who = "loader(" + dataset.name() + ")";
  EDAT_CHECK(dataset_.size() > 0, who << ": the dataset is empty");
  EDAT_CHECK(options_.batch_size > 0, who << ": batch_size " << options_.batch_size << " must be positive");
  EDAT_CHECK(options_.workers >= 0, who << ": workers " << options_.workers << " must not be negative");
  EDAT_CHECK(options_.shards > 0 && options_.shard >= 0 && options_.shard < options_.shards,
             who << ": shard " << options_.shard << " of " << options_.shards << " is not a shard");
  EDAT_CHECK(options_.prefetch >= 0, who << ": prefetch " << options_.prefetch << " must not be negative");
  EDAT_CHECK(options_.device.is_cpu() || cuda::is_available(),
             who << ": batches for " << options_.device.str() << " need a CUDA device, and there is none: "
                 << cuda::unavailable_reason());
  EDAT_CHECK(!options_.drop_last || dataset_.size() >= static_cast<std::size_t>(options_.batch_size),
             who << ": drop_last with batch_size " << options_.batch_size << " leaves no batch of the "
                 << dataset_.size() << " samples");
  if (options_.dct_downscale) {
    const DecodeHint hint = transforms_.decode_hint();
    decode_options_.min_width = hint.min_width, decode_options_.min_height = hint.min_height;
  }
  decode_options_.fast_upsampling = options_.fast_upsampling;
  decode_options_.max_pixels = options_.max_pixels;
  capacity_ = options_.prefetch > 0 ? options_.prefetch : 2 * std::max(options_.workers, 1);
  if (options_.cache_decoded) cache_.resize(dataset_.size());
  known_bad_ = std::make_unique<std::atomic<bool>[]>(dataset_.size());
  for (int t = 0; t < options_.workers; ++t) threads_.emplace_back([this] { worker_loop(); });
}

Loader::~Loader() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  work_cv_.notify_all();
  for (std::thread& t : threads_) t.join();
}

std::size_t Loader::batches_per_epoch() const {
  const std::size_t n = dataset_.size(), b = static_cast<std::size_t>(options_.batch_size);
  return options_.drop_last ? n / b : (n + b - 1) / b;
}

std::vector<std::size_t> Loader::epoch_order(std::uint64_t epoch) const {
  std::vector<std::size_t> order(dataset_.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  if (!options_.shuffle) return order;
  // Fisher-Yates from a stream of its own: position 2^64 - 1 of the epoch's stream is never a sample index.
  Generator rng = sample_generator(options_.seed, epoch, ~std::uint64_t{0});
  for (std::size_t i = order.size() - 1; i > 0; --i) {
    const auto j = static_cast<std::size_t>(rng.next_unit() * static_cast<double>(i + 1));
    std::swap(order[i], order[std::min(j, i)]);
  }
  return order;
}

void Loader::start_epoch(std::uint64_t epoch, std::size_t first_batch) {
  std::vector<std::size_t> order = epoch_order(epoch);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ++generation_;  // results of the previous epoch still being made are dropped when they arrive
    started_ = true;
    epoch_ = epoch;
    order_ = std::move(order);
    num_batches_ = batches_per_epoch();
    EDAT_CHECK(first_batch <= num_batches_, "Loader::start_epoch: batch " << first_batch << " is past the end of an "
                                                                          << "epoch of " << num_batches_ << " batches");
    next_to_make_ = next_to_take_ = first_batch;
    ready_.clear();
  }
  work_cv_.notify_all();
}

std::vector<std::size_t> Loader::batch_indices(std::size_t batch_index) const {
  const std::size_t b = static_cast<std::size_t>(options_.batch_size);
  const std::size_t global_first = batch_index * b, global_last = std::min(global_first + b, order_.size());
  // Shard k of n holds [k m / n, (k + 1) m / n) of the m samples: sizes differ by at most one, none overlap.
  const std::size_t m = global_last - global_first, k = static_cast<std::size_t>(options_.shard),
                    n = static_cast<std::size_t>(options_.shards);
  const std::size_t first = global_first + k * m / n, last = global_first + (k + 1) * m / n;
  return std::vector<std::size_t>(order_.begin() + static_cast<std::ptrdiff_t>(first),
                                  order_.begin() + static_cast<std::ptrdiff_t>(last));
}

void Loader::worker_loop() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    work_cv_.wait(lock, [this] {
      return stop_ || (started_ && next_to_make_ < num_batches_ && next_to_make_ < next_to_take_ + capacity_);
    });
    if (stop_) return;
    const std::size_t batch_index = next_to_make_++;
    const std::uint64_t generation = generation_, epoch = epoch_;
    const std::vector<std::size_t> indices = batch_indices(batch_index);
    lock.unlock();
    Result result;
    try {
      result.batch = make_batch(epoch, batch_index, indices);
    } catch (...) {
      result.error = std::current_exception();
    }
    lock.lock();
    if (generation == generation_) {
      ready_.emplace(batch_index, std::move(result));
      ready_cv_.notify_all();
    }
  }
}

std::optional<Batch> Loader::next() {
  if (!started_) start_epoch(0);
  while (true) {
    Result result;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      if (next_to_take_ >= num_batches_) return std::nullopt;
      const std::size_t batch_index = next_to_take_;
      if (threads_.empty()) {  // no workers: make it here
        const std::vector<std::size_t> indices = batch_indices(batch_index);
        const std::uint64_t epoch = epoch_;
        ++next_to_make_, ++next_to_take_;
        lock.unlock();
        result.batch = make_batch(epoch, batch_index, indices);
      } else {
        ready_cv_.wait(lock, [&] { return ready_.count(batch_index) > 0; });
        auto node = ready_.extract(batch_index);
        result = std::move(node.mapped());
        ++next_to_take_;
        lock.unlock();
        work_cv_.notify_all();  // room for one more batch ahead
      }
    }
    if (result.error) std::rethrow_exception(result.error);
    if (result.batch.size() == 0) continue;  // every sample of this batch was unreadable
    {
      std::lock_guard<std::mutex> lock(stats_mutex_);
      stats_.images_loaded += result.batch.size();
    }
    if (options_.device.is_cuda()) {
      result.batch.images = result.batch.images.to(options_.device);
      result.batch.ages = result.batch.ages.to(options_.device);
    }
    return std::move(result.batch);
  }
}

template <class Decode>
std::optional<Image> Loader::decode_or_skip(std::size_t i, Decode&& decode) {
  if (known_bad_[i].load(std::memory_order_relaxed)) {
    std::lock_guard<std::mutex> lock(stats_mutex_);
    ++stats_.skipped;
    return std::nullopt;
  }
  const std::string& path = dataset_.sample(i).path;
  try {
    return decode(path);
  } catch (const DecodeError& e) {
    known_bad_[i].store(true, std::memory_order_relaxed);
    std::size_t distinct = 0;
    {
      std::lock_guard<std::mutex> lock(stats_mutex_);
      ++stats_.skipped;
      distinct = ++stats_.distinct_bad_files;
      if (stats_.bad_files.size() < static_cast<std::size_t>(std::max(options_.named_skips, 0))) {
        stats_.bad_files.push_back(path);
      }
    }
    const auto named = static_cast<std::size_t>(std::max(options_.named_skips, 0));
    if (distinct <= named) {
      warn("loader(" + dataset_.name() + "): skipping an unreadable image: " + e.what());
    } else if (distinct == named + 1) {
      warn("loader(" + dataset_.name() +
           "): more unreadable images are being skipped, only counted from here on "
           "(Loader::stats())");
    }
    return std::nullopt;
  }
}

std::shared_ptr<const Image> Loader::load_image(std::size_t i) {
  if (options_.cache_decoded) {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    if (cache_[i]) return cache_[i];
  }
  std::optional<Image> decoded =
      decode_or_skip(i, [&](const std::string& path) { return decode_image_file(path, decode_options_); });
  if (!decoded) return nullptr;
  auto image = std::make_shared<const Image>(std::move(*decoded));
  if (options_.cache_decoded) {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    cache_[i] = image;
  }
  return image;
}

std::optional<Image> Loader::transformed_image(std::size_t i, Generator& rng) {
  if (options_.cache_decoded || !options_.decode_boxes) {
    const std::shared_ptr<const Image> decoded = load_image(i);
    if (!decoded) return std::nullopt;
    return transforms_.apply(*decoded, rng);
  }
  // The first transform names the box it cuts once the size is known (drawing its position from rng, as its apply
  // would): only that box is decoded, and the transforms go on from there.
  bool boxed = false;
  const BoxChooser choose_box = [&](int width, int height) {
    const std::optional<Box> box = transforms_.leading_box(width, height, rng);
    boxed = box.has_value();
    return box;
  };
  std::optional<Image> decoded = decode_or_skip(
      i, [&](const std::string& path) { return decode_image_file_box(path, choose_box, decode_options_); });
  if (!decoded) return std::nullopt;
  return boxed ? transforms_.apply_to_leading_box(std::move(*decoded), rng) : transforms_.apply(*decoded, rng);
}

Batch Loader::make_batch(std::uint64_t epoch, std::size_t batch_index, const std::vector<std::size_t>& indices) {
  Batch batch;
  batch.index = batch_index;
  // Each image is normalised into the batch right after its transforms, while its pixels are still in cache; the
  // batch tensor is made once the first image's size is known, for every sample (shrunk at the end if some were
  // unreadable).
  auto new_batch_tensor = [&](const Shape& shape) {
    return options_.device.is_cuda() ? empty(shape, {.pinned = true}) : batch_tensor(shape);
  };
  int height = 0, width = 0;
  std::size_t per_image = 0;
  float* pixels = nullptr;
  std::vector<float> ages;
  for (std::size_t i : indices) {
    Generator rng = sample_generator(options_.seed, epoch, i);
    std::optional<Image> transformed;
    try {
      transformed = transformed_image(i, rng);
    } catch (const Error& e) {
      throw Error("loader(" + dataset_.name() + "): sample " + std::to_string(i) + " (" + dataset_.sample(i).path +
                  "): " + e.what());
    }
    if (!transformed) {
      ++batch.skipped;
      continue;
    }
    const Image& image = *transformed;
    if (pixels == nullptr) {
      height = image.height, width = image.width;
      per_image = 3 * static_cast<std::size_t>(height) * width;
      batch.images = new_batch_tensor({static_cast<std::int64_t>(indices.size()), 3, height, width});
      pixels = batch.images.data<float>();
    }
    EDAT_CHECK(image.width == width && image.height == height,
               "loader(" << dataset_.name() << "): sample " << i << " (" << dataset_.sample(i).path << ") is "
                         << image.width << "x" << image.height
                         << " after the transforms, but this batch's first image is " << width << "x" << height
                         << "; end the transforms with a fixed-size crop or resize (transforms: "
                         << transforms_.describe() << ")");
    options_.normalize(image, pixels + batch.indices.size() * per_image);
    ages.push_back(dataset_.sample(i).age);
    batch.indices.push_back(i);
  }
  if (batch.indices.empty()) return batch;
  const std::int64_t n = static_cast<std::int64_t>(batch.indices.size());
  if (batch.skipped > 0) {  // rare: copy the samples that were read into a batch of their number
    Tensor whole = batch.images;
    batch.images = new_batch_tensor({n, 3, height, width});
    std::memcpy(batch.images.data<float>(), whole.data<float>(), n * per_image * sizeof(float));
  }
  batch.ages = empty({n}, {.pinned = options_.device.is_cuda()});
  std::copy(ages.begin(), ages.end(), batch.ages.data<float>());
  return batch;
}

Tensor Loader::batch_tensor(const Shape& shape) {
  // A fresh multi-megabyte buffer per batch costs a page fault per 4 KiB on first write (about 7% of the whole
  // pipeline at 120 px); the pool hands back a buffer whose last outside handle (and view) is gone.
  std::lock_guard<std::mutex> lock(pool_mutex_);
  for (const Tensor& t : pool_) {
    if (t.shape() == shape && t.impl_ptr().use_count() == 1 && t.impl()->storage.use_count() == 1) return t;
  }
  Tensor fresh = empty(shape);
  if (pool_.size() < capacity_ + threads_.size() + 2) pool_.push_back(fresh);
  return fresh;
}

LoaderStats Loader::stats() const {
  std::lock_guard<std::mutex> lock(stats_mutex_);
  return stats_;
}

void Loader::warn(const std::string& message) const {
  std::lock_guard<std::mutex> lock(warn_mutex_);
  if (options_.warn) {
    options_.warn(message);
  } else {
    std::cerr << "warning: " << message << std::endl;
  }
}

}  // namespace edat::data
