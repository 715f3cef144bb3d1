#include "track/metrics.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>

#include "tensor/error.h"

namespace edat::track {
namespace {

void check_finite(const std::vector<double>& values, const char* what, const char* caller) {
  for (std::size_t i = 0; i < values.size(); ++i)
    EDAT_CHECK(std::isfinite(values[i]), caller << ": " << what << " age at index " << i << " is " << values[i]);
}

std::string bucket_label(double low, double high) {
  std::ostringstream label;
  if (low == std::floor(low) && high == std::floor(high)) {
    label << low << "-" << high - 1;  // whole years: 10-19 holds 19.9 too, as a person of 19.9 "is 19"
  } else {
    label << "[" << low << ", " << high << ")";
  }
  return label.str();
}

std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char c : text) quoted += (c == '"') ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

}  // namespace

AgeMetrics age_metrics(const std::vector<double>& truth, const std::vector<double>& predicted, double bucket_width) {
  EDAT_CHECK(!truth.empty(), "age_metrics: no predictions to score (empty input)");
  EDAT_CHECK(truth.size() == predicted.size(),
             "age_metrics: " << truth.size() << " true ages but " << predicted.size() << " predictions");
  EDAT_CHECK(bucket_width > 0 && std::isfinite(bucket_width),
             "age_metrics: the bucket width must be positive, got " << bucket_width);
  check_finite(truth, "true", "age_metrics");
  check_finite(predicted, "predicted", "age_metrics");

  const auto [lowest, highest] = std::minmax_element(truth.begin(), truth.end());
  const double first = std::floor(*lowest / bucket_width);
  const auto bucket_count = static_cast<std::size_t>(std::floor(*highest / bucket_width) - first) + 1;
  std::vector<double> bucket_error(bucket_count, 0.0);

  AgeMetrics metrics;
  metrics.count = truth.size();
  metrics.buckets.resize(bucket_count);
  double sum_abs = 0, sum_sq = 0;
  std::size_t within5 = 0;
  for (std::size_t i = 0; i < truth.size(); ++i) {
    const double error = std::abs(predicted[i] - truth[i]);
    sum_abs += error;
    sum_sq += error * error;
    within5 += error <= 5.0;
    const auto b = std::min(bucket_count - 1, static_cast<std::size_t>(std::floor(truth[i] / bucket_width) - first));
    bucket_error[b] += error;
    ++metrics.buckets[b].count;
  }
  const auto n = static_cast<double>(truth.size());
  metrics.mae = sum_abs / n;
  metrics.rmse = std::sqrt(sum_sq / n);
  metrics.cs5 = static_cast<double>(within5) / n;
  for (std::size_t b = 0; b < bucket_count; ++b) {
    Bucket& bucket = metrics.buckets[b];
    bucket.low = (first + static_cast<double>(b)) * bucket_width;
    bucket.high = bucket.low + bucket_width;
    bucket.label = bucket_label(bucket.low, bucket.high);
    bucket.mae = bucket.count ? bucket_error[b] / static_cast<double>(bucket.count)
                              : std::numeric_limits<double>::quiet_NaN();
  }
  return metrics;
}

double median(std::vector<double> values) {
  EDAT_CHECK(!values.empty(), "median: no values (empty input)");
  const std::size_t middle = values.size() / 2;
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(middle), values.end());
  if (values.size() % 2 == 1) return values[middle];
  const double upper = values[middle];
  const double lower = *std::max_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(middle));
  return (lower + upper) / 2;
}

double constant_mae(const std::vector<double>& truth, double constant) {
  EDAT_CHECK(!truth.empty(), "constant_mae: no true ages (empty input)");
  check_finite(truth, "true", "constant_mae");
  double sum = 0;
  for (double age : truth) sum += std::abs(age - constant);
  return sum / static_cast<double>(truth.size());
}

void write_predictions_csv(const std::string& path, const std::vector<std::string>& image_paths,
                           const std::vector<double>& truth, const std::vector<double>& predicted) {
  EDAT_CHECK(image_paths.size() == truth.size() && truth.size() == predicted.size(),
             "write_predictions_csv: " << image_paths.size() << " images, " << truth.size() << " true ages and "
                                       << predicted.size() << " predictions for " << path);
  std::ofstream out(path, std::ios::trunc);
  EDAT_CHECK(out.is_open(), "write_predictions_csv: cannot create " << path);
  out.precision(6);  // ages below 1000 keep at least three decimals
  out << "image,true_age,predicted_age,abs_error\n";
  for (std::size_t i = 0; i < truth.size(); ++i) {
    out << csv_field(image_paths[i]) << ',' << truth[i] << ',' << predicted[i] << ','
        << std::abs(predicted[i] - truth[i]) << '\n';
  }
  out.flush();
  EDAT_CHECK(out.good(), "write_predictions_csv: cannot write " << path);
}

}  // namespace edat::track
