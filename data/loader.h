// Loader: turns a Dataset (data/dataset.h) into batches of (images f32 [N, 3, H, W], ages f32 [N]), decoding and
// augmenting on worker threads.
//
//   Loader loader(dataset, transforms, {.batch_size = 64, .seed = 1, .workers = 4, .device = Device::cuda()});
//   for (int epoch = 0; epoch < epochs; ++epoch) {
//     loader.start_epoch(epoch);
//     while (auto batch = loader.next()) train_step(batch->images, batch->ages);
//   }
//
// Determinism: epoch e's order is a seeded shuffle of (seed, e); sample i is augmented with its own generator
// sample_generator(seed, e, i) (data/transforms.h); each batch is made whole by one worker and handed out in order.
// So the batches are bit-identical whatever the number of workers and however the threads are scheduled.
//
// Threads: `workers` threads make batches ahead of the consumer, at most `prefetch` batches (in progress or ready);
// workers = 0 makes each batch inside next(). With a CUDA device the batches are built in pinned host memory and
// next() starts their asynchronous copy to the device on the current stream.
//
// Bad images: a file that cannot be read or decoded (data/decode.h's DecodeError) is skipped, counted, remembered
// (later epochs skip it without retrying), and the first few are named in warnings; its batch is one sample
// shorter. Everything else (a transform that cannot apply, images of different sizes in a batch) is an edat::Error
// thrown from next() naming the sample.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "data/dataset.h"
#include "data/decode.h"
#include "data/image.h"
#include "data/transforms.h"
#include "tensor/device.h"
#include "tensor/tensor.h"

namespace edat::data {

struct LoaderOptions {
  int batch_size = 32;
  bool shuffle = true;
  bool drop_last = false;         // drop the last, short batch of an epoch
  std::uint64_t seed = 0;         // shuffling and augmentation
  int workers = 2;                // worker threads; 0 = build each batch in next() on the calling thread
  int prefetch = 0;               // batches made ahead of the consumer at most; 0 = 2 * workers
  Device device = Device::cpu();  // CUDA: pinned host batches, copied asynchronously in next()
  bool cache_decoded = false;     // keep every decoded image in memory (small datasets: decode once)
  bool dct_downscale = true;      // let JPEGs decode smaller when the transforms start with a Resize
  // When the transforms start with a crop (RandomCrop, CenterCrop, RandomResizedCrop), decode only that box of a
  // JPEG (data/decode.h, decode_image_box): the same pixels in about half the time. Not with cache_decoded.
  bool decode_boxes = true;
  bool fast_upsampling = false;  // faster JPEG chroma upsampling, not PIL-identical (DecodeOptions)
  std::int64_t max_pixels = default_max_pixels;  // larger images are skipped as unreadable (DecodeOptions)
  Normalize normalize{};         // mean/std (ImageNet's by default)
  int named_skips = 5;           // bad images named in warnings; the rest are only counted
  // Where warnings go (default: "warning: ..." lines on stderr). Called from worker threads, one call at a time.
  std::function<void(const std::string&)> warn{};
  // Data-parallel training (dist/): this process takes part `shard` of `shards` of every batch, a contiguous slice
  // of the batch_size samples the single-process loader would give, so the global batches and their order are the
  // single-process ones whatever the number of processes. Batch::index and batches_per_epoch() stay global.
  int shard = 0, shards = 1;
};

struct Batch {
  Tensor images;                     // f32 [n, 3, H, W] on LoaderOptions::device
  Tensor ages;                       // f32 [n] on LoaderOptions::device
  std::vector<std::size_t> indices;  // the dataset indices of the n samples, in batch order
  std::size_t index = 0;             // this batch's position in the epoch
  std::size_t skipped = 0;           // samples of this batch skipped as unreadable
  std::size_t size() const { return indices.size(); }
};

struct LoaderStats {
  std::size_t images_loaded = 0;       // delivered in batches, since construction
  std::size_t skipped = 0;             // skips since construction (a bad file counts once per epoch)
  std::vector<std::string> bad_files;  // every distinct bad file seen, at most named_skips of them
  std::size_t distinct_bad_files = 0;
};

// Makes glibc's malloc keep freed memory for reuse (mmap and trim thresholds raised, unless MALLOC_MMAP_THRESHOLD_ /
// MALLOC_TRIM_THRESHOLD_ are set): the loader's images then stop page-faulting fresh memory (4% of its CPU time).
// A process-wide setting, so it is the application's choice, made once at the start of main() (train_resnet,
// evaluate_age, bench_loader); constructing a Loader changes nothing of the process.
void keep_freed_memory_for_reuse();

class Loader {
 public:
  // `dataset` must outlive the loader.
  Loader(const Dataset& dataset, Compose transforms, LoaderOptions options = {});
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  // Starts (or restarts) an epoch: its order is shuffled from (seed, epoch); batches of a previous epoch not yet
  // taken are dropped. first_batch > 0 starts the epoch there, as if that many batches had been taken (resuming a
  // run mid-epoch: the batches that follow are exactly those an uninterrupted epoch would give).
  void start_epoch(std::uint64_t epoch, std::size_t first_batch = 0);
  // The next batch of the current epoch, or nullopt when the epoch is over. Starts epoch 0 if none was started.
  std::optional<Batch> next();

  std::size_t batches_per_epoch() const;
  std::size_t dataset_size() const { return dataset_.size(); }
  const LoaderOptions& options() const { return options_; }
  LoaderStats stats() const;
  // The sample order of an epoch (dataset indices), as start_epoch computes it.
  std::vector<std::size_t> epoch_order(std::uint64_t epoch) const;

 private:
  struct Result {
    Batch batch;
    std::exception_ptr error;
  };
  Batch make_batch(std::uint64_t epoch, std::size_t batch_index, const std::vector<std::size_t>& indices);
  // Sample i's image after the transforms, drawn from `rng`, or nullopt if its file is unreadable.
  std::optional<Image> transformed_image(std::size_t i, Generator& rng);
  // Decoded (and cached) image of sample i, or nullptr if it is unreadable.
  std::shared_ptr<const Image> load_image(std::size_t i);
  // decode(path), or nullopt when sample i is unreadable: known to be, or decode throws DecodeError (then it is
  // remembered, counted and warned about).
  template <class Decode>
  std::optional<Image> decode_or_skip(std::size_t i, Decode&& decode);
  void worker_loop();
  std::vector<std::size_t> batch_indices(std::size_t batch_index) const;  // needs mutex_ held (reads order_)
  void warn(const std::string& message) const;
  // An f32 tensor of this shape for a batch: a pooled one no one else holds any more, or a new one (pooled while
  // the pool has room). CPU batches only: pinned ones come from CUDA's caching host allocator, which waits for the
  // asynchronous copies still reading a block.
  Tensor batch_tensor(const Shape& shape);

  const Dataset& dataset_;
  Compose transforms_;
  LoaderOptions options_;
  DecodeOptions decode_options_;
  std::size_t capacity_ = 0;  // prefetch bound

  // Per-sample state shared by the workers.
  std::vector<std::shared_ptr<const Image>> cache_;  // when cache_decoded; guarded by cache_mutex_
  std::mutex cache_mutex_;
  std::unique_ptr<std::atomic<bool>[]> known_bad_;
  mutable std::mutex stats_mutex_;
  LoaderStats stats_;
  mutable std::mutex warn_mutex_;
  std::mutex pool_mutex_;
  std::vector<Tensor> pool_;  // batch image tensors, reused once the consumer has dropped them

  // Epoch state, guarded by mutex_.
  std::mutex mutex_;
  std::condition_variable work_cv_, ready_cv_;
  bool started_ = false, stop_ = false;
  std::uint64_t epoch_ = 0, generation_ = 0;
  std::vector<std::size_t> order_;
  std::size_t num_batches_ = 0, next_to_make_ = 0, next_to_take_ = 0;
  std::map<std::size_t, Result> ready_;
  std::vector<std::thread> threads_;
};

}  // namespace edat::data
