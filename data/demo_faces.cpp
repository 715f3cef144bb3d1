// The demo face generator (see demo_faces.h): a tiny anti-aliased painter (ellipses and thick segments with soft
// edges, blended into a float RGB canvas) and the face drawn with it from the apparent age.
#include "data/demo_faces.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "data/encode.h"
#include "tensor/error.h"
#include "tensor/random.h"

namespace edat::data {

namespace {

struct Rgb {
  double r, g, b;
};
Rgb mix(const Rgb& a, const Rgb& b, double t) {
  return {a.r + (b.r - a.r) * t, a.g + (b.g - a.g) * t, a.b + (b.b - a.b) * t};
}
Rgb scaled(const Rgb& c, double f) { return {c.r * f, c.g * f, c.b * f}; }
double clamp01(double x) { return std::clamp(x, 0.0, 1.0); }

// Draws in sequence from a Generator: uniform, range, normal.
struct Draws {
  Generator generator;
  double unit() { return generator.next_unit(); }
  double range(double low, double high) { return low + (high - low) * unit(); }
  double normal() {
    const std::uint64_t first = generator.advance(2);
    return Generator::normal_at(generator.seed(), first, 0, 0.0, 1.0);
  }
};

// A square float RGB canvas. Shapes are given in face units (u right, v down, the face crop being [0,1]^2) and
// mapped to pixels by x = x0 + u * scale; edges are anti-aliased over about one pixel.
class Canvas {
 public:
  Canvas(int size, double x0, double y0, double scale)
      : size_(size), x0_(x0), y0_(y0), scale_(scale), rgb_(static_cast<std::size_t>(size) * size * 3) {}

  void fill_gradient(const Rgb& top, const Rgb& bottom) {
    for (int y = 0; y < size_; ++y) {
      const Rgb c = mix(top, bottom, static_cast<double>(y) / std::max(size_ - 1, 1));
      for (int x = 0; x < size_; ++x) put(x, y, c, 1.0);
    }
  }

  // A filled ellipse centred at (cu, cv) with radii (ru, rv); pixels above v = top_v(u) are left out (soft edge),
  // which is how the face meets the hairline.
  template <typename TopV>
  void ellipse(double cu, double cv, double ru, double rv, const Rgb& c, double opacity, TopV top_v) {
    const double rx = ru * scale_, ry = rv * scale_, cx = x0_ + cu * scale_, cy = y0_ + cv * scale_;
    for_box(cx - rx - 1, cy - ry - 1, cx + rx + 1, cy + ry + 1, [&](int x, int y, double px, double py) {
      const double dx = (px - cx) / rx, dy = (py - cy) / ry, d = std::sqrt(dx * dx + dy * dy);
      // The distance to the edge in pixels is about (d - 1) times the radius along this direction.
      const double radius = d > 0 ? std::sqrt(dx * dx * rx * rx + dy * dy * ry * ry) / d : std::min(rx, ry);
      double alpha = clamp01(0.5 - (d - 1) * radius);
      const double top = y0_ + top_v((px - x0_) / scale_) * scale_;
      alpha *= clamp01(py - top + 0.5);
      put(x, y, c, alpha * opacity);
    });
  }
  void ellipse(double cu, double cv, double ru, double rv, const Rgb& c, double opacity = 1.0) {
    ellipse(cu, cv, ru, rv, c, opacity, [](double) { return -1e9; });
  }

  // A segment of width `width` (face units) with round ends.
  void segment(double u0, double v0, double u1, double v1, double width, const Rgb& c, double opacity) {
    const double ax = x0_ + u0 * scale_, ay = y0_ + v0 * scale_, bx = x0_ + u1 * scale_, by = y0_ + v1 * scale_;
    const double half = std::max(width * scale_, 0.8) / 2, dx = bx - ax, dy = by - ay;
    const double length2 = std::max(dx * dx + dy * dy, 1e-12);
    for_box(std::min(ax, bx) - half - 1, std::min(ay, by) - half - 1, std::max(ax, bx) + half + 1,
            std::max(ay, by) + half + 1, [&](int x, int y, double px, double py) {
              const double t = clamp01(((px - ax) * dx + (py - ay) * dy) / length2);
              const double distance = std::hypot(px - ax - t * dx, py - ay - t * dy);
              put(x, y, c, clamp01(half + 0.5 - distance) * opacity);
            });
  }

  // A parabolic arc from (u0, v0) to (u1, v1) bulging by `sag` (face units, + is down) in the middle.
  void arc(double u0, double v0, double u1, double v1, double sag, double width, const Rgb& c, double opacity) {
    constexpr int pieces = 6;
    const auto point = [&](int i, double& u, double& v) {
      const double t = static_cast<double>(i) / pieces;
      u = u0 + (u1 - u0) * t;
      v = v0 + (v1 - v0) * t + sag * 4 * t * (1 - t);
    };
    for (int i = 0; i < pieces; ++i) {
      double ua, va, ub, vb;
      point(i, ua, va), point(i + 1, ub, vb);
      segment(ua, va, ub, vb, width, c, opacity);
    }
  }

  // The canvas as 8-bit RGB with uniform noise of +-amplitude from the counter-based stream (seed, first + i).
  Image to_image(double amplitude, std::uint64_t seed, std::uint64_t first) const {
    Image image(size_, size_);
    for (std::size_t i = 0; i < rgb_.size(); ++i) {
      const double noise = amplitude * (2 * Generator::unit(seed, first + i) - 1);
      image.pixels[i] = static_cast<std::uint8_t>(std::clamp(std::lround(rgb_[i] + noise), 0L, 255L));
    }
    return image;
  }

 private:
  template <typename F>
  void for_box(double x_low, double y_low, double x_high, double y_high, F&& f) {
    const int xa = std::max(0, static_cast<int>(std::floor(x_low))), xb = std::min(size_ - 1, static_cast<int>(x_high));
    const int ya = std::max(0, static_cast<int>(std::floor(y_low))), yb = std::min(size_ - 1, static_cast<int>(y_high));
    for (int y = ya; y <= yb; ++y)
      for (int x = xa; x <= xb; ++x) f(x, y, x + 0.5, y + 0.5);
  }
  void put(int x, int y, const Rgb& c, double alpha) {
    if (alpha <= 0) return;
    float* p = &rgb_[(static_cast<std::size_t>(y) * size_ + x) * 3];
    p[0] += static_cast<float>((c.r - p[0]) * alpha);
    p[1] += static_cast<float>((c.g - p[1]) * alpha);
    p[2] += static_cast<float>((c.b - p[2]) * alpha);
  }

  int size_;
  double x0_, y0_, scale_;
  std::vector<float> rgb_;
};

constexpr std::uint64_t label_stream = 0x6c6162656c73ull;  // "labels": a stream apart from the drawing's

struct Labels {
  int real_age, num_ratings;
  double apparent_age, apparent_std;
};

// Ages spread over 1..80 (half uniform, half around 30 as in APPA-REAL); the apparent age is the real one plus
// the spread of human guesses, and is what the face is drawn from.
Labels draw_labels(std::uint64_t seed, std::uint64_t index) {
  Draws d{Generator(Generator::bits(seed ^ label_stream, index))};
  const double real = d.unit() < 0.5 ? d.range(1, 80) : std::clamp(30 + 12 * d.normal(), 1.0, 80.0);
  Labels labels;
  labels.real_age = static_cast<int>(std::lround(real));
  labels.apparent_age = std::clamp(labels.real_age + (1.5 + 0.04 * labels.real_age) * d.normal(), 1.0, 90.0);
  labels.apparent_age = std::round(labels.apparent_age * 1000) / 1000;  // the value written is the value drawn
  labels.apparent_std = 1.5 + 0.07 * labels.apparent_age + 0.5 * std::abs(d.normal());
  labels.num_ratings = static_cast<int>(d.range(30, 46));
  return labels;
}

}  // namespace

Image draw_demo_face(double age, int size, std::uint64_t seed, std::uint64_t index, double face_scale) {
  Draws d{Generator(Generator::bits(seed, index))};
  const double youth = clamp01((18 - age) / 17);  // 1 for a baby, 0 from 18
  const double old = clamp01((age - 50) / 30);    // 0 until 50, 1 at 80
  const double wrinkling = clamp01((age - 22) / 50);
  const double grey = clamp01((age - 35) / 40 + 0.08 * d.normal());

  // Nuisance: placement, colours.
  const double scale = size * face_scale * d.range(0.95, 1.05);
  const double x0 = size / 2.0 - scale / 2 + d.range(-0.02, 0.02) * scale;
  const double y0 = size / 2.0 - scale / 2 + d.range(-0.02, 0.02) * scale;
  Canvas canvas(size, x0, y0, scale);
  const Rgb background{d.range(60, 200), d.range(60, 200), d.range(60, 200)};
  canvas.fill_gradient(background, scaled(background, d.range(0.6, 0.9)));
  const double tone = d.range(0.72, 1.05);
  const Rgb skin{std::min(236.0 * tone, 255.0), 182 * tone * d.range(0.95, 1.02), 150 * tone * d.range(0.92, 1.02)};
  const Rgb dark_skin = scaled(skin, 0.82);
  const Rgb hair_bases[] = {{28, 24, 22}, {58, 40, 28}, {92, 64, 40}, {105, 52, 30}};
  const Rgb hair_base = scaled(hair_bases[d.generator.next_bits() % 4], d.range(0.8, 1.15));
  const Rgb hair = mix(hair_base, {196, 194, 190}, grey);
  const Rgb shirt{d.range(20, 230), d.range(20, 230), d.range(20, 230)};
  const Rgb iris_colors[] = {{70, 45, 25}, {60, 90, 130}, {70, 100, 60}};
  const Rgb iris = iris_colors[d.generator.next_bits() % 3];
  const Rgb lips = mix(skin, {170, 70, 75}, d.range(0.35, 0.6));

  // Proportions: rounder faces and bigger, lower eyes for children.
  const double face_ru = 0.29 + 0.04 * youth + d.range(-0.01, 0.01), face_rv = 0.38 - 0.02 * youth;
  const double face_cv = 0.53, eye_v = 0.50 + 0.05 * youth, eye_du = 0.12;
  const double eye_ru = 0.05 + 0.015 * youth, eye_rv = (0.026 + 0.012 * youth) * (1 - 0.35 * old);
  const double hairline = 0.27 - 0.10 * clamp01((age - 40) / 40) * d.range(0.5, 1.0);
  const auto hairline_at = [&](double u) { return hairline + 1.4 * (u - 0.5) * (u - 0.5); };
  const double line_width = 0.009;

  canvas.ellipse(0.5, 1.18, 0.48, 0.28, shirt);             // shoulders
  canvas.segment(0.5, 0.8, 0.5, 1.0, 0.2, dark_skin, 1.0);  // neck
  canvas.ellipse(0.5, 0.46, face_ru + 0.05, 0.43, hair);    // hair behind the face (top at v = 0.03)
  for (int side : {-1, 1}) canvas.ellipse(0.5 + side * (face_ru + 0.005), eye_v + 0.05, 0.035, 0.07, dark_skin);
  canvas.ellipse(0.5, face_cv, face_ru, face_rv, skin, 1.0, hairline_at);  // the face, below the hairline

  // Wrinkles, darker with age: forehead lines, cheek folds, crow's feet, bags under the eyes.
  const Rgb crease = scaled(skin, 0.5);
  const double contrast = 0.25 + 0.6 * wrinkling;
  const int forehead_lines = std::clamp(static_cast<int>((age - 22) / 11), 0, 4);
  for (int k = 0; k < forehead_lines; ++k) {
    const double v = eye_v - 0.10 - 0.028 * k;
    if (v > hairline + 0.015) canvas.arc(0.38, v, 0.62, v, -0.012, line_width, crease, contrast);
  }
  if (age > 35)
    for (int side : {-1, 1})
      canvas.arc(0.5 + side * 0.055, eye_v + 0.13, 0.5 + side * 0.11, 0.80, side * 0.0, line_width * 1.2, crease,
                 contrast * clamp01((age - 35) / 15));
  if (age > 40)
    for (int side : {-1, 1}) {
      const double u = 0.5 + side * (eye_du + eye_ru + 0.012);
      for (int k = -1; k <= 1; ++k)
        canvas.segment(u, eye_v + 0.008 * k, u + side * 0.045, eye_v + 0.022 * k, line_width, crease,
                       contrast * clamp01((age - 40) / 15));
    }
  if (age > 50)
    for (int side : {-1, 1})
      canvas.arc(0.5 + side * (eye_du - eye_ru), eye_v + eye_rv + 0.02, 0.5 + side * (eye_du + eye_ru),
                 eye_v + eye_rv + 0.02, 0.012, line_width, crease, contrast * old);

  // Eyes, eyebrows (hair-coloured, greying too), nose, mouth (thinner lips with age).
  for (int side : {-1, 1}) {
    const double u = 0.5 + side * eye_du;
    canvas.ellipse(u, eye_v, eye_ru, eye_rv, {240, 238, 232});
    canvas.ellipse(u, eye_v, 0.022 + 0.008 * youth, std::min(0.022 + 0.008 * youth, eye_rv), iris);
    canvas.ellipse(u, eye_v, 0.009, std::min(0.009, eye_rv), {15, 12, 12});
    canvas.arc(u - 0.06, eye_v - 0.045 - 0.01 * youth, u + 0.06, eye_v - 0.05 - 0.01 * youth, -0.012, 0.018,
               mix(hair, hair_base, 0.3), 0.9);
  }
  canvas.segment(0.5, eye_v + 0.03, 0.49, eye_v + 0.13, 0.03, dark_skin, 0.6);
  for (int side : {-1, 1}) canvas.ellipse(0.5 + side * 0.022, eye_v + 0.14, 0.012, 0.008, scaled(skin, 0.45));
  canvas.ellipse(0.5, 0.76 - 0.02 * youth, 0.075 - 0.015 * youth, 0.02 * (1 - 0.4 * old) + 0.004, lips);
  canvas.segment(0.43 + 0.015 * youth, 0.76 - 0.02 * youth, 0.57 - 0.015 * youth, 0.76 - 0.02 * youth, 0.006,
                 scaled(lips, 0.6), 0.8);

  return canvas.to_image(6.0, Generator::bits(seed, index), std::uint64_t{1} << 32);
}

DemoFacesSummary write_demo_faces(const DemoFacesOptions& options) {
  namespace fs = std::filesystem;
  EDAT_CHECK(!options.out.empty(), "make_demo_faces: no output folder given");
  EDAT_CHECK(options.count >= 3, "make_demo_faces: need at least 3 images (one per split), got " << options.count);
  EDAT_CHECK(options.size >= 32 && options.size <= 1024,
             "make_demo_faces: size must be in [32, 1024], got " << options.size);
  DemoFacesSummary summary;
  summary.valid = std::max(1, options.count / 5);
  summary.test = std::max(1, options.count / 5);
  summary.train = options.count - summary.valid - summary.test;

  const fs::path root(options.out);
  const char* splits[] = {"train", "valid", "test"};
  const int counts[] = {summary.train, summary.valid, summary.test};
  const int full_size = static_cast<int>(std::lround(options.size * 1.6));
  int index = 0;  // file numbers run on across the splits, as in APPA-REAL
  for (int s = 0; s < 3; ++s) {
    fs::create_directories(root / splits[s]);
    std::string csv = "file_name,num_ratings,apparent_age_avg,apparent_age_std,real_age\n";
    for (int i = 0; i < counts[s]; ++i, ++index) {
      char name[32], row[160];
      std::snprintf(name, sizeof name, "%06d.jpg", index);
      const Labels labels = draw_labels(options.seed, index);
      std::snprintf(row, sizeof row, "%s,%d,%.3f,%.6f,%d\n", name, labels.num_ratings, labels.apparent_age,
                    labels.apparent_std, labels.real_age);
      csv += row;
      const fs::path file = root / splits[s] / name;
      write_image(file.string() + "_face.jpg", draw_demo_face(labels.apparent_age, options.size, options.seed, index),
                  options.jpeg_quality);
      if (options.full_images)
        write_image(file.string(), draw_demo_face(labels.apparent_age, full_size, options.seed, index, 1 / 1.6),
                    options.jpeg_quality);
    }
    const fs::path csv_file = root / ("gt_avg_" + std::string(splits[s]) + ".csv");
    std::ofstream out(csv_file, std::ios::binary);
    EDAT_CHECK(out << csv, "make_demo_faces: cannot write '" << csv_file.string() << "'");
  }
  return summary;
}

}  // namespace edat::data
