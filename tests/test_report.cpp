// track/: age metrics on hand-computed cases, the predictions CSV, nice ticks and the SVG/HTML training report.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "tests/test_util.h"
#include "tests/track_test_util.h"
#include "track/metrics.h"
#include "track/report.h"
#include "track/svg.h"

namespace fs = std::filesystem;
using edat::testing::read_file_bytes;
using edat::testing::scratch_dir;
using edat::testing::throws_with;
using namespace edat::track;

namespace {

std::size_t count(const std::string& text, const std::string& part) {
  std::size_t n = 0;
  for (std::size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + part.size())) ++n;
  return n;
}

// Every start tag has its end tag, properly nested (void and self-closing tags excepted): enough of well-formedness
// to catch an unclosed element or an unescaped '<' in text.
::testing::AssertionResult tags_balanced(const std::string& html) {
  std::vector<std::string> open;
  for (std::size_t at = html.find('<'); at != std::string::npos; at = html.find('<', at + 1)) {
    const std::size_t end = html.find('>', at);
    if (end == std::string::npos) return ::testing::AssertionFailure() << "unterminated tag at " << at;
    const std::string tag = html.substr(at + 1, end - at - 1);
    if (tag.empty() || tag[0] == '!' || tag.back() == '/') continue;
    const bool closing = tag[0] == '/';
    const std::string name = tag.substr(closing, tag.find_first_of(" \n", closing) - closing);
    if (name == "meta") continue;
    if (name.empty() || !std::isalpha(static_cast<unsigned char>(name[0])))
      return ::testing::AssertionFailure() << "not a tag: <" << tag << "> at " << at;
    if (!closing) {
      open.push_back(name);
    } else if (open.empty() || open.back() != name) {
      return ::testing::AssertionFailure() << "</" << name << "> at " << at << " closes <"
                                           << (open.empty() ? "nothing" : open.back()) << ">";
    } else {
      open.pop_back();
    }
  }
  if (!open.empty()) return ::testing::AssertionFailure() << "<" << open.back() << "> is never closed";
  return ::testing::AssertionSuccess();
}

ReportInput sample_input() {
  ReportInput input;
  input.title = "ResNet-34 <fine-tune> & \"APPA\"";
  input.settings = {{"model", "resnet34"}, {"augment", "flip & crop <224>"}};
  input.epochs = {{1, 12.5, 10.25, 9.5, 12.0, 1e-3, 412.3, 61.2},
                  {2, 8.75, NAN, 7.125, 9.0, 1e-3, 420.0, 60.0},  // no validation loss this epoch
                  {3, 6.5, 6.0, 6.25, 8.0, 1e-4, 418.8, 60.5}};
  input.test_truth = {20, 25, 31, 48};
  input.test_predicted = {22, 25, 38, 40};
  input.train_median_age = 30;
  return input;
}

}  // namespace

// errors 2, 0, 7, 8: MAE 17/4, RMSE sqrt(117/4), two of four within 5 years.
TEST(AgeMetrics, HandComputed) {
  const AgeMetrics m = age_metrics({20, 25, 31, 48}, {22, 25, 38, 40});
  EXPECT_EQ(m.count, 4u);
  EXPECT_DOUBLE_EQ(m.mae, 4.25);
  EXPECT_DOUBLE_EQ(m.rmse, std::sqrt(29.25));
  EXPECT_DOUBLE_EQ(m.cs5, 0.5);
  ASSERT_EQ(m.buckets.size(), 3u);
  EXPECT_EQ(m.buckets[0].label, "20-29");
  EXPECT_EQ(m.buckets[0].count, 2u);
  EXPECT_DOUBLE_EQ(m.buckets[0].mae, 1.0);
  EXPECT_EQ(m.buckets[1].label, "30-39");
  EXPECT_DOUBLE_EQ(m.buckets[1].mae, 7.0);
  EXPECT_EQ(m.buckets[2].label, "40-49");
  EXPECT_DOUBLE_EQ(m.buckets[2].low, 40.0);
  EXPECT_DOUBLE_EQ(m.buckets[2].high, 50.0);
  EXPECT_DOUBLE_EQ(m.buckets[2].mae, 8.0);
}

TEST(AgeMetrics, ErrorOfExactlyFiveCountsAndEmptyBucketsStay) {
  const AgeMetrics m = age_metrics({5, 29.9}, {10, 29.9});
  EXPECT_DOUBLE_EQ(m.cs5, 1.0);
  ASSERT_EQ(m.buckets.size(), 3u);
  EXPECT_EQ(m.buckets[0].label, "0-9");
  EXPECT_EQ(m.buckets[1].count, 0u);
  EXPECT_TRUE(std::isnan(m.buckets[1].mae));
  EXPECT_EQ(m.buckets[2].count, 1u);  // 29.9 belongs to 20-29
}

TEST(AgeMetrics, OtherBucketWidths) {
  EXPECT_EQ(age_metrics({12}, {12}, 5).buckets.at(0).label, "10-14");
  EXPECT_EQ(age_metrics({12}, {12}, 2.5).buckets.at(0).label, "[10, 12.5)");
}

TEST(AgeMetrics, BadInputIsAClearError) {
  EXPECT_TRUE(throws_with([] { age_metrics({}, {}); }, {"age_metrics", "empty"}));
  EXPECT_TRUE(throws_with([] { age_metrics({1, 2}, {1}); }, {"2 true ages", "1 predictions"}));
  EXPECT_TRUE(throws_with([] { age_metrics({1, 2, 3}, {1, 2, NAN}); }, {"predicted age at index 2", "nan"}));
  EXPECT_TRUE(throws_with([] { age_metrics({1, INFINITY}, {1, 2}); }, {"true age at index 1", "inf"}));
  EXPECT_TRUE(throws_with([] { age_metrics({1}, {1}, 0); }, {"bucket width"}));
}

TEST(AgeMetrics, MedianAndBaseline) {
  EXPECT_DOUBLE_EQ(median({5, 1, 3}), 3.0);
  EXPECT_DOUBLE_EQ(median({4, 1, 3, 10}), 3.5);
  EXPECT_TRUE(throws_with([] { median({}); }, {"median", "empty"}));
  EXPECT_DOUBLE_EQ(constant_mae({20, 25, 31, 48}, 30), (10 + 5 + 1 + 18) / 4.0);
}

TEST(PredictionsCsv, QuotesPathsAndWritesErrors) {
  const fs::path path = scratch_dir("csv") / "predictions.csv";
  write_predictions_csv(path.string(), {"a/1.jpg", "b,c/2.jpg", "say \"hi\".jpg"}, {20, 31, 48}, {22.5, 31, 40});
  EXPECT_EQ(read_file_bytes(path),
            "image,true_age,predicted_age,abs_error\n"
            "a/1.jpg,20,22.5,2.5\n"
            "\"b,c/2.jpg\",31,31,0\n"
            "\"say \"\"hi\"\".jpg\",48,40,8\n");
  EXPECT_TRUE(throws_with([&] { write_predictions_csv(path.string(), {"a"}, {1, 2}, {1, 2}); },
                          {"1 images", "2 true ages", path.string()}));
  const std::string bad = (path.parent_path() / "missing" / "p.csv").string();
  EXPECT_TRUE(throws_with([&] { write_predictions_csv(bad, {}, {}, {}); }, {"cannot create", bad}));
}

TEST(Svg, NiceTicks) {
  const Ticks a = nice_ticks(0, 10, 5);
  EXPECT_EQ(a.values, (std::vector<double>{0, 2, 4, 6, 8, 10}));
  EXPECT_EQ(a.decimals, 0);
  const Ticks b = nice_ticks(3.2, 47.9, 5);
  EXPECT_EQ(b.values, (std::vector<double>{0, 10, 20, 30, 40, 50}));
  const Ticks c = nice_ticks(-3, 7, 5);
  EXPECT_EQ(c.values, (std::vector<double>{-4, -2, 0, 2, 4, 6, 8}));
  const Ticks d = nice_ticks(0, 1, 5);
  EXPECT_DOUBLE_EQ(d.step, 0.2);
  EXPECT_EQ(d.values.size(), 6u);
  EXPECT_EQ(d.decimals, 1);
  const Ticks e = nice_ticks(0.0013, 0.0047, 5);
  EXPECT_DOUBLE_EQ(e.step, 0.001);
  EXPECT_EQ(e.decimals, 3);
  EXPECT_LE(e.values.front(), 0.0013);
  EXPECT_GE(e.values.back(), 0.0047);
  const Ticks single = nice_ticks(7, 7);  // one epoch: widened, still covering the value
  EXPECT_LT(single.low, 7);
  EXPECT_GT(single.high, 7);
  EXPECT_TRUE(throws_with([] { nice_ticks(0, NAN); }, {"nice_ticks", "not finite"}));
}

TEST(Svg, FormatEscapeAndScale) {
  EXPECT_EQ(format_number(2.50, 2), "2.5");
  EXPECT_EQ(format_number(10, 0), "10");
  EXPECT_EQ(format_number(-0.0001, 2), "0");
  EXPECT_EQ(format_number(0.0015, 3), "0.002");
  EXPECT_EQ(xml_escape("a<b & \"c\">'d'"), "a&lt;b &amp; &quot;c&quot;&gt;&#39;d&#39;");
  const LinearScale y(0, 10, 300, 100);  // SVG's y grows downwards
  EXPECT_DOUBLE_EQ(y(0), 300);
  EXPECT_DOUBLE_EQ(y(2.5), 250);
  EXPECT_DOUBLE_EQ(y(10), 100);
}

TEST(Report, FullReportHasChartsNumbersAndEscapes) {
  const fs::path path = scratch_dir("full") / "report.html";
  write_report(path.string(), sample_input());
  const std::string html = read_file_bytes(path);
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_EQ(count(html, "<svg"), 4u);
  EXPECT_TRUE(tags_balanced(html));
  EXPECT_EQ(count(html, "<script"), 0u);
  EXPECT_NE(html.find("ResNet-34 &lt;fine-tune&gt; &amp; &quot;APPA&quot;"), std::string::npos);
  EXPECT_EQ(html.find("<fine-tune>"), std::string::npos);
  EXPECT_NE(html.find("flip &amp; crop &lt;224&gt;"), std::string::npos);
  EXPECT_NE(html.find("<td>4.25</td>"), std::string::npos);           // test MAE
  EXPECT_NE(html.find("<td>5.408</td>"), std::string::npos);          // RMSE sqrt(29.25)
  EXPECT_NE(html.find("<td>50%</td>"), std::string::npos);            // CS(5)
  EXPECT_NE(html.find("<td>8.5</td>"), std::string::npos);            // baseline: always 30
  EXPECT_NE(html.find("6.25 at epoch 3"), std::string::npos);         // best validation MAE
  EXPECT_NE(html.find("n=2"), std::string::npos);                     // bucket counts
  EXPECT_NE(html.find("20-29"), std::string::npos);
  EXPECT_NE(html.find("<td>0.0001</td>"), std::string::npos);         // learning rate
  EXPECT_EQ(count(html, "NaN") + count(html, "nan") + count(html, "inf"), 0u);
}

TEST(Report, SettingsComeAfterTheCharts) {
  const std::string html = render_report(sample_input());
  const std::size_t charts = html.find("<h2>Charts</h2>"), settings = html.find("<h2>Settings</h2>");
  ASSERT_NE(settings, std::string::npos);
  EXPECT_LT(charts, settings);
  EXPECT_LT(html.find("<h2>Epochs</h2>"), settings);
}

TEST(Report, SingleEpochWithoutValidationLoss) {
  ReportInput input;
  input.title = "one";
  input.epochs = {{1, 3.5, NAN, NAN, NAN, 0.01, NAN, 2}};
  input.test_truth = {30};
  input.test_predicted = {31};
  const std::string html = render_report(input);
  EXPECT_EQ(count(html, "<svg"), 4u);
  EXPECT_TRUE(tags_balanced(html));
  EXPECT_EQ(count(html, "NaN") + count(html, "nan") + count(html, "inf"), 0u);
  EXPECT_EQ(count(html, "validation</text>"), 0u);  // no validation curve in the legend
}

TEST(Report, WithoutTestPredictionsOrEpochs) {
  ReportInput input;
  input.title = "empty";
  const std::string html = render_report(input);
  EXPECT_EQ(count(html, "<svg"), 0u);
  EXPECT_TRUE(tags_balanced(html));
  EXPECT_NE(html.find("No test predictions"), std::string::npos);
  EXPECT_NE(html.find("No epochs recorded"), std::string::npos);
}

TEST(Report, BadInputIsAClearError) {
  ReportInput input = sample_input();
  input.test_predicted[1] = NAN;
  const fs::path path = scratch_dir("bad") / "report.html";
  EXPECT_TRUE(throws_with([&] { write_report(path.string(), input); }, {"predicted age at index 1"}));
  EXPECT_FALSE(fs::exists(path));
  const std::string unwritable = (path.parent_path() / "missing" / "report.html").string();
  EXPECT_TRUE(throws_with([&] { write_report(unwritable, sample_input()); }, {"cannot create", unwritable}));
}
