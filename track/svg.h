// Small SVG primitives for the training report: nice axis ticks, linear scales, and a Chart that draws its axes
// and grid and takes polylines, scatter points, lines and bars in data coordinates.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace edat::track {

// "&", "<", ">", '"' and "'" as entities, for text inside SVG or HTML.
std::string xml_escape(const std::string& text);

// A number with at most `decimals` decimals and no trailing zeros ("2.5", "10", "0.001").
std::string format_number(double value, int decimals);

// Round tick positions covering [low, high]: the step is (high - low) / (target_count - 1) rounded to 1, 2 or 5
// times a power of ten (Heckbert's "nice numbers", Graphics Gems 1990), so about `target_count` ticks. The first tick is <= low and the last >= high; low == high is widened.
struct Ticks {
  double low = 0, high = 1, step = 1;
  std::vector<double> values;
  int decimals = 0;  // enough to tell the ticks apart
};
Ticks nice_ticks(double low, double high, int target_count = 5);

// Maps [domain_low, domain_high] onto [range_low, range_high] (pixels; the range may run backwards, as y does).
class LinearScale {
 public:
  LinearScale(double domain_low, double domain_high, double range_low, double range_high);
  double operator()(double value) const { return range_low_ + (value - domain_low_) * slope_; }

 private:
  double domain_low_, range_low_, slope_;
};

// One axis of a chart: its span, tick positions with their labels, and its title.
struct Axis {
  double low = 0, high = 1;
  std::vector<std::pair<double, std::string>> ticks;
  std::string title;
};
// Nice ticks over the finite values of [low, high].
Axis numeric_axis(double low, double high, const std::string& title, int target_count = 6);
// One slot per label, ticks at the slot centres 0.5, 1.5 ... (for bars).
Axis category_axis(const std::vector<std::string>& labels, const std::string& title);

// The smallest and largest finite values over all `series` ({0, 1} when there are none).
std::pair<double, double> finite_range(const std::vector<std::vector<double>>& series);

class Chart {
 public:
  Chart(std::string title, Axis x, Axis y, int width = 640, int height = 380);

  // A line through (xs[i], ys[i]) with a dot per point; a non-finite y breaks the line.
  void polyline(const std::vector<double>& xs, const std::vector<double>& ys, const std::string& color,
                bool dashed = false);
  void scatter(const std::vector<double>& xs, const std::vector<double>& ys, const std::string& color,
               double radius = 2.5, double opacity = 0.5);
  void line(double x0, double y0, double x1, double y1, const std::string& color, bool dashed = false);
  // Bar i fills slot i of a category axis from 0 to values[i] (skipped when not finite), notes[i] written above it.
  void bars(const std::vector<double>& values, const std::vector<std::string>& notes, const std::string& color);
  void legend(const std::string& label, const std::string& color, bool dashed = false);
  enum class Corner { top_left, top_right };
  void set_legend_corner(Corner corner) { legend_corner_ = corner; }  // where the legend hides the least data

  // The <svg> element: frame, grid, ticks, axis titles, the content and the legend. Axes made by numeric_axis()
  // cover their data, so nothing needs clipping.
  std::string svg() const;

 private:
  double px(double x) const { return x_scale_(x); }
  double py(double y) const { return y_scale_(y); }

  std::string title_;
  Axis x_, y_;
  int width_, height_;
  double left_, right_, top_, bottom_;  // plot area in pixels
  LinearScale x_scale_, y_scale_;
  std::string content_;
  struct LegendEntry {
    std::string label, color;
    bool dashed;
  };
  std::vector<LegendEntry> legend_;
  Corner legend_corner_ = Corner::top_right;
};

}  // namespace edat::track
