#include "apps/serve/age_service.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <vector>

#include "tensor/error.h"

namespace edat::serve {
namespace {

std::vector<std::unique_ptr<apps::FaceAgeEstimator>> copies(const apps::FaceAgeEstimator& prototype, int count) {
  EDAT_CHECK(count >= 1, "serve_age: --threads must be at least 1, got " << count);
  std::vector<std::unique_ptr<apps::FaceAgeEstimator>> estimators;
  for (int i = 0; i < count; ++i) estimators.push_back(std::make_unique<apps::FaceAgeEstimator>(prototype));
  return estimators;
}

}  // namespace

AgeService::AgeService(const apps::FaceAgeEstimator& prototype, int threads, std::size_t queue_capacity)
    : openmp_threads_(std::max(1, omp_get_num_procs() / std::max(threads, 1))),
      pool_(copies(prototype, threads), queue_capacity) {}

std::optional<std::future<apps::ImageAges>> AgeService::submit(std::string image, std::string name) {
  // The job owns the bytes and the promise; the caller keeps the future.
  auto promise = std::make_shared<std::promise<apps::ImageAges>>();
  std::future<apps::ImageAges> answer = promise->get_future();
  auto job = [this, promise, image = std::move(image), name = std::move(name)](apps::FaceAgeEstimator& estimator) {
    omp_set_num_threads(openmp_threads_);  // a setting of the calling thread (the worker's), not of the process
    try {
      promise->set_value(estimator.estimate(reinterpret_cast<const std::uint8_t*>(image.data()), image.size(), name));
    } catch (...) {  // estimate answers every bad image itself: this is a failure of the server (out of memory)
      promise->set_exception(std::current_exception());
    }
  };
  if (!pool_.try_submit(std::move(job))) return std::nullopt;
  return answer;
}

std::optional<std::string> training_metrics_file(const std::string& weights_path) {
  namespace fs = std::filesystem;
  const fs::path weights(weights_path);
  for (const fs::path& candidate :
       {fs::path(weights).replace_extension(".results.json"), weights.parent_path() / "results.json"}) {
    std::error_code error;
    if (fs::is_regular_file(candidate, error)) return candidate.string();
  }
  return std::nullopt;
}

nlohmann::ordered_json describe_model(const apps::FaceAgeEstimator& estimator, const std::string& weights_path) {
  const train::ModelDescription& d = estimator.description();
  const apps::FaceAgeOptions& o = estimator.options();
  nlohmann::ordered_json metrics = nullptr;
  std::string metrics_source;
  if (const std::optional<std::string> file = training_metrics_file(weights_path)) {
    std::ifstream in(*file);
    metrics = nlohmann::ordered_json::parse(in, nullptr, /*allow_exceptions=*/false);
    EDAT_CHECK(!metrics.is_discarded() && metrics.is_object(),
               "serve_age: " << *file << " (the training metrics of " << weights_path << ") is not a JSON object");
    metrics_source = std::filesystem::path(*file).filename().string();
  }
  const auto [youngest, oldest] = d.age_range();
  nlohmann::ordered_json age_range = {youngest, nullptr};
  if (std::isfinite(oldest)) age_range[1] = oldest;
  return {{"weights", std::filesystem::path(weights_path).filename().string()},
          {"architecture", d.arch},
          {"loss", d.loss},
          {"input_size", d.img_size},
          {"resize", d.resize},
          {"age_range", age_range},
          {"face_crop", {{"trained", d.face_crop}, {"used", apps::crop_record(o).text()}}},
          {"detection", o.detect_face ? nlohmann::ordered_json{{"upsample", o.upsample}} : nullptr},
          {"tta", o.tta_flip ? "flip" : "none"},
          {"max_pixels", o.max_pixels},
          {"training_metrics", metrics},
          {"training_metrics_file", metrics_source.empty() ? nullptr : nlohmann::ordered_json(metrics_source)}};
}

}  // namespace edat::serve
