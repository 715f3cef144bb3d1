// Age-estimation metrics of a test split (MAE, RMSE, CS(5), error per age bucket) and the predictions CSV.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace edat::track {

// The images whose true age lies in [low, high).
struct Bucket {
  double low = 0, high = 0;
  std::string label;      // "10-19" for whole-number bounds, else "[12.5, 25)"
  std::size_t count = 0;
  double mae = 0;         // NaN when count == 0
};

struct AgeMetrics {
  double mae = 0;    // mean |predicted - true|
  double rmse = 0;   // sqrt(mean (predicted - true)^2)
  double cs5 = 0;    // cumulative score: share of images with |error| <= 5 years
  std::size_t count = 0;
  std::vector<Bucket> buckets;  // every bucket from the lowest to the highest true age, empty ones included
};

// Throws edat::Error on empty or differently sized inputs, a non-finite value (naming its index) or a width <= 0.
AgeMetrics age_metrics(const std::vector<double>& truth, const std::vector<double>& predicted,
                       double bucket_width = 10);

// The median (mean of the middle two for an even count); throws on an empty input.
double median(std::vector<double> values);

// The MAE of always answering `constant`: the baseline a model must beat (with the training split's median age).
double constant_mae(const std::vector<double>& truth, double constant);

// Writes `image,true_age,predicted_age,abs_error`, one row per image; paths with commas, quotes or line breaks are
// quoted as in RFC 4180. Throws when the sizes differ or the file cannot be written (naming the path).
void write_predictions_csv(const std::string& path, const std::vector<std::string>& image_paths,
                           const std::vector<double>& truth, const std::vector<double>& predicted);

}  // namespace edat::track
