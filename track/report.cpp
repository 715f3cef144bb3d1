// Each chart is one short function over the primitives of svg.h; the page around them is plain HTML with inline CSS.
#include "track/report.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "tensor/error.h"
#include "track/metrics.h"
#include "track/svg.h"

namespace edat::track {
namespace {

constexpr const char* kBlue = "#1f77b4";
constexpr const char* kOrange = "#ff7f0e";
constexpr const char* kGrey = "#555";

std::vector<double> column(const std::vector<EpochRow>& epochs, double EpochRow::*field) {
  std::vector<double> values;
  for (const EpochRow& row : epochs) values.push_back(row.*field);
  return values;
}

std::vector<double> epoch_numbers(const std::vector<EpochRow>& epochs) {
  std::vector<double> values;
  for (const EpochRow& row : epochs) values.push_back(row.epoch);
  return values;
}

// Epochs are whole numbers: ask for no more ticks than there are epochs, so that no tick falls between two.
Axis epoch_axis(const std::vector<double>& epochs) {
  const auto [low, high] = finite_range({epochs});
  return numeric_axis(low, high, "epoch", std::clamp(static_cast<int>(high - low) + 1, 2, 8));
}

std::string loss_chart(const std::vector<EpochRow>& epochs) {
  const auto x = epoch_numbers(epochs);
  const auto train = column(epochs, &EpochRow::train_loss), valid = column(epochs, &EpochRow::valid_loss);
  const auto [low, high] = finite_range({train, valid});
  Chart chart("Loss per epoch", epoch_axis(x), numeric_axis(low, high, "loss"));
  chart.polyline(x, train, kBlue);
  chart.legend("train", kBlue);
  if (std::any_of(valid.begin(), valid.end(), [](double v) { return std::isfinite(v); })) {
    chart.polyline(x, valid, kOrange, true);
    chart.legend("validation", kOrange, true);
  }
  return chart.svg();
}

std::string valid_mae_chart(const std::vector<EpochRow>& epochs) {
  const auto x = epoch_numbers(epochs);
  const auto mae = column(epochs, &EpochRow::valid_mae);
  const auto [low, high] = finite_range({mae});
  Chart chart("Validation MAE per epoch", epoch_axis(x), numeric_axis(low, high, "MAE (years)"));
  chart.polyline(x, mae, kOrange);
  return chart.svg();
}

std::string scatter_chart(const std::vector<double>& truth, const std::vector<double>& predicted) {
  const auto [low, high] = finite_range({truth, predicted});
  const Axis x = numeric_axis(low, high, "true age (years)", 10);  // steps of 10 years over a 0-100 span
  Axis y = x;
  y.title = "predicted age (years)";
  Chart chart("Predicted vs true age (test)", x, y, 480, 480);
  chart.line(x.low, x.low, x.high, x.high, kGrey, true);  // a perfect model's points lie on y = x
  chart.scatter(truth, predicted, kBlue);
  chart.legend("y = x", kGrey, true);
  chart.set_legend_corner(Chart::Corner::top_left);  // the points lie along the diagonal, leaving this corner empty
  return chart.svg();
}

std::string bucket_chart(const AgeMetrics& metrics) {
  std::vector<std::string> labels, notes;
  std::vector<double> maes;
  for (const Bucket& bucket : metrics.buckets) {
    labels.push_back(bucket.label);
    notes.push_back("n=" + std::to_string(bucket.count));
    maes.push_back(bucket.mae);
  }
  const auto [low, high] = finite_range({maes, {0.0}});
  Chart chart("MAE per true-age bucket (test)", category_axis(labels, "true age (years)"),
              numeric_axis(low, high * 1.08, "MAE (years)"));  // 8% headroom for the count above the tallest bar
  chart.bars(maes, notes, kBlue);
  return chart.svg();
}

std::string cell(double value, int decimals) { return std::isfinite(value) ? format_number(value, decimals) : "-"; }

std::string cell_general(double value) {  // learning rates span decades: 3 significant digits
  if (!std::isfinite(value)) return "-";
  std::ostringstream out;
  out.precision(3);
  out << value;
  return out.str();
}

std::string row(const std::vector<std::string>& cells, const char* tag = "td") {
  std::string html = "<tr>";
  for (const std::string& text : cells) html += std::string("<") + tag + ">" + xml_escape(text) + "</" + tag + ">";
  return html + "</tr>\n";
}

std::string settings_table(const ReportInput& input) {
  if (input.settings.empty()) return "";
  std::string html = "<h2>Settings</h2>\n<table>\n";
  for (const auto& [key, value] : input.settings) html += row({key, value});
  return html + "</table>\n";
}

std::string summary_table(const ReportInput& input, const AgeMetrics* metrics) {
  std::string html = "<h2>Summary</h2>\n<table>\n";
  if (metrics) {
    html += row({"test images", std::to_string(metrics->count)});
    html += row({"test MAE (years)", cell(metrics->mae, 3)});
    html += row({"test RMSE (years)", cell(metrics->rmse, 3)});
    html += row({"test CS(5) (|error| <= 5 years)", cell(100 * metrics->cs5, 1) + "%"});
    if (input.train_median_age) {
      html += row({"baseline MAE: always " + cell(*input.train_median_age, 1) + " (training median)",
                   cell(constant_mae(input.test_truth, *input.train_median_age), 3)});
    }
  } else {
    html += row({"test split", "no predictions"});
  }
  const auto best = std::min_element(input.epochs.begin(), input.epochs.end(), [](const EpochRow& a, const EpochRow& b) {
    return std::isfinite(a.valid_mae) && (!std::isfinite(b.valid_mae) || a.valid_mae < b.valid_mae);
  });
  if (best != input.epochs.end() && std::isfinite(best->valid_mae)) {
    html += row({"best validation MAE (years)", cell(best->valid_mae, 3) + " at epoch " + std::to_string(best->epoch)});
  }
  return html + "</table>\n";
}

std::string epoch_table(const std::vector<EpochRow>& epochs) {
  std::string html = "<h2>Epochs</h2>\n<table>\n";
  html += row({"epoch", "train loss", "valid loss", "valid MAE", "valid RMSE", "lr", "images/s", "seconds"}, "th");
  for (const EpochRow& e : epochs) {
    html += row({std::to_string(e.epoch), cell(e.train_loss, 4), cell(e.valid_loss, 4), cell(e.valid_mae, 3),
                 cell(e.valid_rmse, 3), cell_general(e.lr), cell(e.images_per_second, 1), cell(e.seconds, 1)});
  }
  return html + "</table>\n";
}

constexpr const char* kStyle = R"(body { font-family: sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin-bottom: 1.5em; }
td, th { border: 1px solid #ccc; padding: 3px 10px; text-align: right; }
td:first-child { text-align: left; }
.charts { display: flex; flex-wrap: wrap; gap: 1em; }
)";

}  // namespace

std::string render_report(const ReportInput& input) {
  std::optional<AgeMetrics> metrics;
  if (!input.test_truth.empty() || !input.test_predicted.empty())
    metrics = age_metrics(input.test_truth, input.test_predicted);

  std::ostringstream html;
  html << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>" << xml_escape(input.title)
       << "</title>\n<style>\n" << kStyle << "</style>\n</head>\n<body>\n<h1>" << xml_escape(input.title) << "</h1>\n"
       << summary_table(input, metrics ? &*metrics : nullptr) << "<h2>Charts</h2>\n";
  html << "<div class=\"charts\">\n";
  if (input.epochs.empty()) {
    html << "<p>No epochs recorded.</p>\n";
  } else {
    html << loss_chart(input.epochs) << valid_mae_chart(input.epochs);
  }
  if (metrics) {
    html << scatter_chart(input.test_truth, input.test_predicted) << bucket_chart(*metrics);
  } else {
    html << "<p>No test predictions.</p>\n";
  }
  // The long settings table last: the numbers and charts are what a reader opens the report for.
  html << "</div>\n" << epoch_table(input.epochs) << settings_table(input) << "</body>\n</html>\n";
  return html.str();
}

void write_report(const std::string& path, const ReportInput& input) {
  const std::string html = render_report(input);  // before opening, so that bad input leaves no half-written file
  std::ofstream out(path, std::ios::trunc);
  EDAT_CHECK(out.is_open(), "write_report: cannot create " << path);
  out << html;
  out.flush();
  EDAT_CHECK(out.good(), "write_report: cannot write " << path);
}

}  // namespace edat::track
