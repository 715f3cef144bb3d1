// report.html: a self-contained training report (inline SVG charts and tables; no JavaScript, no network).
#pragma once

#include <cmath>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace edat::track {

// One epoch of training; NaN marks a value that was not measured (e.g. no validation loss).
struct EpochRow {
  int epoch = 0;
  double train_loss = NAN;
  double valid_loss = NAN;
  double valid_mae = NAN;
  double valid_rmse = NAN;
  double lr = NAN;
  double images_per_second = NAN;
  double seconds = NAN;
};

struct ReportInput {
  std::string title;
  std::vector<std::pair<std::string, std::string>> settings;  // shown as a key/value table, in this order
  std::vector<EpochRow> epochs;
  std::vector<double> test_truth, test_predicted;  // one true and one predicted age per test image (may be empty)
  std::optional<double> train_median_age;          // adds the "always predict the median" baseline MAE
};

// The HTML page: title, settings, a summary of the test split (MAE, RMSE, CS(5), baseline), the charts (loss and
// validation MAE per epoch, predicted vs true age, MAE per 10-year bucket) and the per-epoch table. Charts without
// data (no epochs, no test predictions) are replaced by a sentence. Throws edat::Error on invalid predictions.
std::string render_report(const ReportInput& input);

// render_report() written to `path`; throws edat::Error naming the path when it cannot be written.
void write_report(const std::string& path, const ReportInput& input);

}  // namespace edat::track
