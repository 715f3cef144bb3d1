#include "track/svg.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "tensor/error.h"

namespace edat::track {
namespace {

// The "nice" number nearest to x: 1, 2, 5 or 10 times a power of ten.
double nice_number(double x) {
  const double power = std::pow(10.0, std::floor(std::log10(x)));
  const double fraction = x / power;
  return (fraction < 1.5 ? 1 : fraction < 3 ? 2 : fraction < 7 ? 5 : 10) * power;
}

std::string px_text(double value) { return format_number(value, 1); }

std::string stroke(const std::string& color, bool dashed, double width = 2) {
  return "stroke=\"" + xml_escape(color) + "\" stroke-width=\"" + format_number(width, 1) + "\"" +
         (dashed ? " stroke-dasharray=\"6 4\"" : "");
}

std::string text(double x, double y, const std::string& body, const std::string& attributes = "") {
  return "<text x=\"" + px_text(x) + "\" y=\"" + px_text(y) + "\"" + (attributes.empty() ? "" : " " + attributes) + ">" +
         xml_escape(body) + "</text>\n";
}

}  // namespace

std::string xml_escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string format_number(double value, int decimals) {
  if (!std::isfinite(value)) return std::isnan(value) ? "NaN" : (value > 0 ? "inf" : "-inf");
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "%.*f", std::clamp(decimals, 0, 12), value);
  std::string out = buffer;
  if (out.find('.') != std::string::npos) {
    out.erase(out.find_last_not_of('0') + 1);
    if (out.back() == '.') out.pop_back();
  }
  return out == "-0" ? "0" : out;
}

Ticks nice_ticks(double low, double high, int target_count) {
  EDAT_CHECK(std::isfinite(low) && std::isfinite(high), "nice_ticks: the range [" << low << ", " << high
                                                                                  << "] is not finite");
  EDAT_CHECK(target_count >= 2 && target_count <= 50, "nice_ticks: target_count must be in [2, 50], got " << target_count);
  if (low > high) std::swap(low, high);
  if (low == high) {  // one value (a single epoch, a constant loss): widen around it
    const double pad = std::max(1.0, 0.1 * std::abs(low));
    low -= pad, high += pad;
  }
  Ticks ticks;
  ticks.step = nice_number((high - low) / (target_count - 1));
  ticks.low = std::floor(low / ticks.step) * ticks.step;
  ticks.high = std::ceil(high / ticks.step) * ticks.step;
  const auto count = static_cast<int>(std::lround((ticks.high - ticks.low) / ticks.step)) + 1;
  for (int i = 0; i < count; ++i) {
    const double value = ticks.low + i * ticks.step;
    ticks.values.push_back(std::abs(value) < ticks.step * 1e-9 ? 0.0 : value);  // no "-0" or 1e-17 from rounding
  }
  ticks.decimals = std::max(0, -static_cast<int>(std::floor(std::log10(ticks.step) + 1e-9)));
  return ticks;
}

LinearScale::LinearScale(double domain_low, double domain_high, double range_low, double range_high)
    : domain_low_(domain_low), range_low_(range_low), slope_(0) {
  EDAT_CHECK(domain_high != domain_low, "LinearScale: the domain [" << domain_low << ", " << domain_high
                                                                    << "] is empty");
  slope_ = (range_high - range_low) / (domain_high - domain_low);
}

Axis numeric_axis(double low, double high, const std::string& title, int target_count) {
  const Ticks ticks = nice_ticks(low, high, target_count);
  Axis axis{ticks.low, ticks.high, {}, title};
  for (double value : ticks.values) axis.ticks.emplace_back(value, format_number(value, ticks.decimals));
  return axis;
}

Axis category_axis(const std::vector<std::string>& labels, const std::string& title) {
  Axis axis{0, static_cast<double>(std::max<std::size_t>(labels.size(), 1)), {}, title};
  for (std::size_t i = 0; i < labels.size(); ++i) axis.ticks.emplace_back(static_cast<double>(i) + 0.5, labels[i]);
  return axis;
}

std::pair<double, double> finite_range(const std::vector<std::vector<double>>& series) {
  double low = INFINITY, high = -INFINITY;
  for (const auto& values : series) {
    for (double value : values) {
      if (std::isfinite(value)) low = std::min(low, value), high = std::max(high, value);
    }
  }
  if (low > high) return {0.0, 1.0};
  return {low, high};
}

// Margins leave room for the title (top), tick labels and axis titles (left, bottom).
Chart::Chart(std::string title, Axis x, Axis y, int width, int height)
    : title_(std::move(title)), x_(std::move(x)), y_(std::move(y)), width_(width), height_(height),
      left_(70), right_(width - 20.0), top_(40), bottom_(height - 50.0),
      x_scale_(x_.low, x_.high, left_, right_), y_scale_(y_.low, y_.high, bottom_, top_) {}

void Chart::polyline(const std::vector<double>& xs, const std::vector<double>& ys, const std::string& color,
                     bool dashed) {
  EDAT_CHECK(xs.size() == ys.size(), "Chart::polyline: " << xs.size() << " x values but " << ys.size() << " y values");
  std::string points;
  auto end_segment = [&] {
    if (!points.empty()) content_ += "<polyline fill=\"none\" " + stroke(color, dashed) + " points=\"" + points + "\"/>\n";
    points.clear();
  };
  for (std::size_t i = 0; i < xs.size(); ++i) {
    if (!std::isfinite(xs[i]) || !std::isfinite(ys[i])) {
      end_segment();
      continue;
    }
    if (!points.empty()) points += ' ';
    points += px_text(px(xs[i]));
    points += ',';
    points += px_text(py(ys[i]));
    content_ += "<circle cx=\"" + px_text(px(xs[i])) + "\" cy=\"" + px_text(py(ys[i])) + "\" r=\"3\" fill=\"" +
                xml_escape(color) + "\"/>\n";
  }
  end_segment();
}

void Chart::scatter(const std::vector<double>& xs, const std::vector<double>& ys, const std::string& color,
                    double radius, double opacity) {
  EDAT_CHECK(xs.size() == ys.size(), "Chart::scatter: " << xs.size() << " x values but " << ys.size() << " y values");
  content_ += "<g fill=\"" + xml_escape(color) + "\" fill-opacity=\"" + format_number(opacity, 2) + "\">\n";
  for (std::size_t i = 0; i < xs.size(); ++i) {
    if (!std::isfinite(xs[i]) || !std::isfinite(ys[i])) continue;
    content_ += "<circle cx=\"" + px_text(px(xs[i])) + "\" cy=\"" + px_text(py(ys[i])) + "\" r=\"" +
                format_number(radius, 1) + "\"/>\n";
  }
  content_ += "</g>\n";
}

void Chart::line(double x0, double y0, double x1, double y1, const std::string& color, bool dashed) {
  content_ += "<line x1=\"" + px_text(px(x0)) + "\" y1=\"" + px_text(py(y0)) + "\" x2=\"" + px_text(px(x1)) +
              "\" y2=\"" + px_text(py(y1)) + "\" " + stroke(color, dashed, 1.5) + "/>\n";
}

void Chart::bars(const std::vector<double>& values, const std::vector<std::string>& notes, const std::string& color) {
  EDAT_CHECK(notes.empty() || notes.size() == values.size(),
             "Chart::bars: " << values.size() << " values but " << notes.size() << " notes");
  const double base = py(std::clamp(0.0, y_.low, y_.high));
  for (std::size_t i = 0; i < values.size(); ++i) {
    const double slot = static_cast<double>(i);
    const double x0 = px(slot + 0.15), x1 = px(slot + 0.85);
    const double top = std::isfinite(values[i]) ? py(values[i]) : base;
    if (std::isfinite(values[i])) {
      content_ += "<rect x=\"" + px_text(x0) + "\" y=\"" + px_text(std::min(top, base)) + "\" width=\"" +
                  px_text(x1 - x0) + "\" height=\"" + px_text(std::abs(base - top)) + "\" fill=\"" +
                  xml_escape(color) + "\"/>\n";
    }
    if (!notes.empty()) content_ += text((x0 + x1) / 2, std::min(top, base) - 4, notes[i], "text-anchor=\"middle\"");
  }
}

void Chart::legend(const std::string& label, const std::string& color, bool dashed) {
  legend_.push_back({label, color, dashed});
}

std::string Chart::svg() const {
  std::ostringstream out;
  out << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width_ << "\" height=\"" << height_
      << "\" viewBox=\"0 0 " << width_ << " " << height_ << "\" font-family=\"sans-serif\" font-size=\"12\">\n"
      << "<title>" << xml_escape(title_) << "</title>\n"
      << "<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\n"  // white when the chart is viewed on its own
      << text(width_ / 2.0, 22, title_, "text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\"")
      << "<rect x=\"" << px_text(left_) << "\" y=\"" << px_text(top_) << "\" width=\"" << px_text(right_ - left_)
      << "\" height=\"" << px_text(bottom_ - top_) << "\" fill=\"#fff\" stroke=\"#888\"/>\n";
  for (const auto& [value, label] : x_.ticks) {  // vertical grid line, tick mark, label below
    const double x = px(value);
    out << "<line x1=\"" << px_text(x) << "\" y1=\"" << px_text(top_) << "\" x2=\"" << px_text(x) << "\" y2=\""
        << px_text(bottom_ + 5) << "\" stroke=\"#e4e4e4\"/>\n"
        << text(x, bottom_ + 18, label, "text-anchor=\"middle\"");
  }
  for (const auto& [value, label] : y_.ticks) {  // horizontal grid line, tick mark, label left
    const double y = py(value);
    out << "<line x1=\"" << px_text(left_ - 5) << "\" y1=\"" << px_text(y) << "\" x2=\"" << px_text(right_)
        << "\" y2=\"" << px_text(y) << "\" stroke=\"#e4e4e4\"/>\n"
        << text(left_ - 8, y + 4, label, "text-anchor=\"end\"");
  }
  out << text((left_ + right_) / 2, height_ - 12.0, x_.title, "text-anchor=\"middle\"")
      << "<text transform=\"translate(16," << px_text((top_ + bottom_) / 2) << ") rotate(-90)\" text-anchor=\"middle\">"
      << xml_escape(y_.title) << "</text>\n"
      << content_;
  if (!legend_.empty()) {
    const double box_x = legend_corner_ == Corner::top_left ? left_ + 4 : right_ - 158;
    out << "<rect x=\"" << px_text(box_x) << "\" y=\"" << px_text(top_ + 4) << "\" width=\"154\" height=\""
        << px_text(18.0 * static_cast<double>(legend_.size()) + 8) << "\" fill=\"#fff\" fill-opacity=\"0.85\" "
        << "stroke=\"#ccc\"/>\n";
    for (std::size_t i = 0; i < legend_.size(); ++i) {  // a sample of the line, then its label
      const double x = box_x + 8, y = top_ + 20 + 18.0 * static_cast<double>(i);
      out << "<line x1=\"" << px_text(x) << "\" y1=\"" << px_text(y - 4) << "\" x2=\"" << px_text(x + 20)
          << "\" y2=\"" << px_text(y - 4) << "\" " << stroke(legend_[i].color, legend_[i].dashed, 2.5) << "/>\n"
          << text(x + 26, y, legend_[i].label);
    }
  }
  out << "</svg>\n";
  return out.str();
}

}  // namespace edat::track
