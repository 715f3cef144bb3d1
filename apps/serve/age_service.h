// serve_age's engine: one model loaded once, shared read-only by a fixed pool of worker threads (each with its own
// FaceAgeEstimator: a face detector of its own), and a bounded queue of images waiting for a worker.
#pragma once

#include <cstddef>
#include <cstdint>
#include <future>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "apps/face_ages.h"
#include "apps/serve/worker_pool.h"

namespace edat::serve {

// serve_age's --max-pixels, below predict_age's: face detection on a 64-megapixel image (a 1 MB PNG can be one)
// takes minutes and gigabytes, and anyone who reaches the server can send one. 4096 x 4096 takes seconds; larger
// JPEGs decode at 1/2, 1/4 or 1/8 scale to fit.
inline constexpr std::int64_t kDefaultMaxPixels = std::int64_t{1} << 24;

// The workers run the shared network at once: nothing in its forward pass writes shared state (layers only read
// their parameters and buffers in evaluation mode; grad mode and the convolution's scratch buffers are per thread;
// each job sets its thread's NoGradGuard). Each worker gets its share of the cores for OpenMP (omp_set_num_threads
// is per thread). Measured on 2 cores, 2 workers, 4 clients (docs/benchmarks.md, "serve_age"): 3.13 photos/s this
// way, 2.93 with 2 OpenMP threads per worker (4 on 2 cores), 2.27 with a mutex around the network.
class AgeService {
 public:
  // `threads` estimators like `prototype` (sharing its network), at most `queue_capacity` images waiting.
  AgeService(const apps::FaceAgeEstimator& prototype, int threads, std::size_t queue_capacity);

  // The ages of the faces in an encoded image (JPEG, PNG, BMP, GIF), answered on a worker thread; nullopt when
  // `queue_capacity` images already wait. `name` names the image in error messages.
  std::optional<std::future<apps::ImageAges>> submit(std::string image, std::string name);

  std::size_t threads() const { return pool_.threads(); }
  std::size_t queue_capacity() const { return pool_.capacity(); }
  std::size_t waiting() const { return pool_.waiting(); }

 private:
  int openmp_threads_;  // per worker: the cores shared out, at least 1
  WorkerPool<apps::FaceAgeEstimator> pool_;
};

// What GET /v1/model answers: the architecture, input size and age range (the weights' edat.* metadata), how faces
// are found and cut (trained and used), test-time augmentation, limits, and the training metrics when the weights
// come with train_resnet's results.json (training_metrics_file).
nlohmann::ordered_json describe_model(const apps::FaceAgeEstimator& estimator, const std::string& weights_path);

// Where a weights file's training metrics are: "NAME.results.json" beside "NAME.safetensors" (the shipped model),
// else the results.json of the run folder it sits in (train_resnet --out); nullopt when neither exists.
std::optional<std::string> training_metrics_file(const std::string& weights_path);

}  // namespace edat::serve
