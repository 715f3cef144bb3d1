// Geometric transforms: resize (antialiased bilinear), crop, centre crop, pad, horizontal flip, rotation.
// Each follows torchvision 0.14's tensor code path; the comments name the torch function reproduced.
#include <algorithm>
#include <cmath>
#include <numbers>
#include <type_traits>

#include "data/transforms.h"
#include "tensor/error.h"

namespace edat::data {
namespace {

void check_input(const Image& image, const char* what) {
  EDAT_CHECK(!image.empty() && image.pixels.size() == static_cast<std::size_t>(image.width) * image.height * 3,
             what << ": the image is empty or its pixel buffer does not match " << image.width << "x" << image.height);
}

// The taps of one output position of a separable 1-D resampling: input indices first .. first + weights.size() - 1.
struct Taps {
  std::vector<int> first;
  std::vector<int> count;
  std::vector<float> weights;  // count.size() rows of `stride` weights
  int stride = 0;
};

// torch's _compute_weights_aa (UpSampleKernel.cpp) for the triangle filter, in float as torch computes it for a
// float32 image: centre = scale (i + 0.5), support = max(scale, 1), taps normalised to sum 1.
Taps antialias_taps(int in_size, int out_size) {
  const float scale = static_cast<float>(in_size) / static_cast<float>(out_size);
  const float support = scale >= 1.0f ? scale : 1.0f;
  const float inv_scale = scale >= 1.0f ? 1.0f / scale : 1.0f;
  Taps taps;
  taps.stride = static_cast<int>(std::ceil(support)) * 2 + 1;
  taps.first.resize(out_size), taps.count.resize(out_size);
  taps.weights.assign(static_cast<std::size_t>(out_size) * taps.stride, 0.0f);
  for (int i = 0; i < out_size; ++i) {
    const float center = scale * (static_cast<float>(i) + 0.5f);
    const int xmin = std::max(static_cast<int>(center - support + 0.5f), 0);
    const int xsize = std::min(static_cast<int>(center + support + 0.5f), in_size) - xmin;
    float* w = &taps.weights[static_cast<std::size_t>(i) * taps.stride];
    float total = 0.0f;
    for (int j = 0; j < xsize; ++j) {
      const float x = std::abs((static_cast<float>(j + xmin) - center + 0.5f) * inv_scale);
      w[j] = x < 1.0f ? 1.0f - x : 0.0f;
      total += w[j];
    }
    for (int j = 0; j < xsize; ++j) {
      if (total != 0.0f) w[j] /= total;
    }
    taps.first[i] = xmin, taps.count[i] = xsize;
  }
  return taps;
}

// Plain bilinear, align_corners=False (torch's upsample_bilinear2d): source = max(scale (i + 0.5) - 0.5, 0),
// the two neighbours floor(source) and min(floor + 1, in - 1).
Taps bilinear_taps(int in_size, int out_size) {
  const float scale = static_cast<float>(in_size) / static_cast<float>(out_size);
  Taps taps;
  taps.stride = 2;
  taps.first.resize(out_size), taps.count.assign(out_size, 2);
  taps.weights.assign(static_cast<std::size_t>(out_size) * 2, 0.0f);
  for (int i = 0; i < out_size; ++i) {
    const float source = std::max(scale * (static_cast<float>(i) + 0.5f) - 0.5f, 0.0f);
    const int x0 = std::min(static_cast<int>(source), in_size - 1);
    const float lambda = source - static_cast<float>(x0);
    taps.first[i] = x0;
    if (x0 + 1 < in_size) {
      taps.weights[2 * i] = 1.0f - lambda, taps.weights[2 * i + 1] = lambda;
    } else {
      taps.count[i] = 1, taps.weights[2 * i] = 1.0f;
    }
  }
  return taps;
}

// Resamples along x: in [height][in_w][3] -> out [height][out_w][3]. Every output position gets the same number of
// taps (the most any has; the extra ones weigh 0 and sit before or after the real ones, so the sums are unchanged:
// adding +0 is exact), which gives the compiler fixed-length inner loops.
void resample_rows(const float* in, int height, int in_w, float* out, int out_w, const Taps& taps) {
  const int k_taps = std::min(*std::max_element(taps.count.begin(), taps.count.end()), in_w);
  std::vector<int> first(out_w);
  std::vector<float> weights(static_cast<std::size_t>(out_w) * k_taps, 0.0f);
  for (int x = 0; x < out_w; ++x) {
    first[x] = std::min(taps.first[x], in_w - k_taps);
    const int shift = taps.first[x] - first[x];
    for (int j = 0; j < taps.count[x]; ++j) {
      weights[static_cast<std::size_t>(x) * k_taps + shift + j] =
          taps.weights[static_cast<std::size_t>(x) * taps.stride + j];
    }
  }
  // Small tap counts (every shrink by up to 3.5x) get an unrolled loop.
  auto run = [&]<int K>(std::integral_constant<int, K>) {
    const int k = K > 0 ? K : k_taps;
    for (int y = 0; y < height; ++y) {
      const float* row = in + static_cast<std::size_t>(y) * in_w * 3;
      float* dst = out + static_cast<std::size_t>(y) * out_w * 3;
      for (int x = 0; x < out_w; ++x) {
        const float* w = &weights[static_cast<std::size_t>(x) * k];
        const float* src = row + static_cast<std::size_t>(first[x]) * 3;
        float r = 0, g = 0, b = 0;
        for (int j = 0; j < k; ++j) {
          r += src[3 * j] * w[j], g += src[3 * j + 1] * w[j], b += src[3 * j + 2] * w[j];
        }
        dst[3 * x] = r, dst[3 * x + 1] = g, dst[3 * x + 2] = b;
      }
    }
  };
  switch (k_taps) {
    case 1:
      return run(std::integral_constant<int, 1>{});
    case 2:
      return run(std::integral_constant<int, 2>{});
    case 3:
      return run(std::integral_constant<int, 3>{});
    case 4:
      return run(std::integral_constant<int, 4>{});
    case 5:
      return run(std::integral_constant<int, 5>{});
    case 6:
      return run(std::integral_constant<int, 6>{});
    case 7:
      return run(std::integral_constant<int, 7>{});
    case 8:
      return run(std::integral_constant<int, 8>{});
    default:
      return run(std::integral_constant<int, 0>{});
  }
}

// Resamples along y: in [in_h][row_len] -> out [out_h][row_len].
void resample_columns(const float* in, int row_len, float* out, int out_h, const Taps& taps) {
  for (int y = 0; y < out_h; ++y) {
    const float* w = &taps.weights[static_cast<std::size_t>(y) * taps.stride];
    float* dst = out + static_cast<std::size_t>(y) * row_len;
    std::fill(dst, dst + row_len, 0.0f);
    for (int j = 0; j < taps.count[y]; ++j) {
      const float* src = in + static_cast<std::size_t>(taps.first[y] + j) * row_len;
      const float wj = w[j];
      for (int k = 0; k < row_len; ++k) dst[k] += src[k] * wj;
    }
  }
}

std::uint8_t round_to_u8(float v) {  // torch.round (half to even), then the cast; bilinear stays in range
  return static_cast<std::uint8_t>(std::clamp(std::nearbyint(v), 0.0f, 255.0f));
}

// Maps a coordinate outside [0, n) back inside for the edge, reflect and symmetric pad modes.
int pad_index(int i, int n, PadMode mode) {
  if (mode == PadMode::edge) return std::clamp(i, 0, n - 1);
  if (n == 1) return 0;
  // reflect mirrors about the edge pixels (period 2n - 2); symmetric repeats them (period 2n).
  const int period = mode == PadMode::reflect ? 2 * n - 2 : 2 * n;
  i %= period;
  if (i < 0) i += period;
  if (i < n) return i;
  return mode == PadMode::reflect ? period - i : period - 1 - i;
}

}  // namespace

Image resize(const Image& image, int width, int height, bool antialias) {
  check_input(image, "resize");
  EDAT_CHECK(width > 0 && height > 0, "resize: target size " << width << "x" << height << " is not positive");
  EDAT_CHECK(std::int64_t{width} * height <= max_resize_pixels, "resize: target size " << width << "x" << height
                                                                     << " is more than the limit of "
                                                                     << max_resize_pixels << " pixels");
  if (width == image.width && height == image.height) return image;
  // Width pass then height pass, in float, each only when that size changes (torch does both, but a pass
  // to the same size has weights exactly [1, 0] and changes nothing).
  std::vector<float> current(image.pixels.begin(), image.pixels.end());
  int cur_w = image.width;
  if (width != image.width) {
    const Taps taps = antialias ? antialias_taps(image.width, width) : bilinear_taps(image.width, width);
    std::vector<float> next(static_cast<std::size_t>(image.height) * width * 3);
    resample_rows(current.data(), image.height, image.width, next.data(), width, taps);
    current.swap(next), cur_w = width;
  }
  if (height != image.height) {
    const Taps taps = antialias ? antialias_taps(image.height, height) : bilinear_taps(image.height, height);
    std::vector<float> next(static_cast<std::size_t>(height) * cur_w * 3);
    resample_columns(current.data(), cur_w * 3, next.data(), height, taps);
    current.swap(next);
  }
  Image out(width, height);
  for (std::size_t i = 0; i < out.pixels.size(); ++i) out.pixels[i] = round_to_u8(current[i]);
  return out;
}

std::array<int, 2> shorter_side_size(int width, int height, int size) {
  // torchvision's _compute_resized_output_size: new_long = int(size * long / short) (a truncating float division).
  const int short_side = std::min(width, height), long_side = std::max(width, height);
  const double new_long_exact = static_cast<double>(size) * long_side / short_side;
  EDAT_CHECK(new_long_exact * size <= static_cast<double>(max_resize_pixels),
             "resize: a " << width << "x" << height << " image with its shorter side resized to " << size
                          << " would be " << new_long_exact << " pixels long, more than the limit of "
                          << max_resize_pixels << " pixels in all");
  const int new_long = static_cast<int>(new_long_exact);
  return width <= height ? std::array<int, 2>{size, new_long} : std::array<int, 2>{new_long, size};
}

Image resize_shorter_side(const Image& image, int size, bool antialias) {
  check_input(image, "resize");
  EDAT_CHECK(size > 0, "resize: size " << size << " is not positive");
  const auto [w, h] = shorter_side_size(image.width, image.height, size);
  return resize(image, w, h, antialias);
}

Image crop(const Image& image, int top, int left, int height, int width) {
  check_input(image, "crop");
  EDAT_CHECK(height > 0 && width > 0, "crop: size " << width << "x" << height << " is not positive");
  Image out(width, height);  // zero-initialised: parts outside the image stay black
  const int x0 = std::max(left, 0), x1 = std::min(left + width, image.width);
  for (int y = std::max(top, 0); y < std::min(top + height, image.height); ++y) {
    if (x1 > x0) {
      std::copy(image.row(y) + 3 * x0, image.row(y) + 3 * x1, out.row(y - top) + 3 * (x0 - left));
    }
  }
  return out;
}

Image center_crop(const Image& image, int height, int width) {
  check_input(image, "center_crop");
  EDAT_CHECK(height > 0 && width > 0, "center_crop: size " << width << "x" << height << " is not positive");
  const Box box = center_crop_box(image.width, image.height, height, width);
  return crop(image, box.top, box.left, box.height, box.width);
}

Box center_crop_box(int image_width, int image_height, int height, int width) {
  // torchvision pads with black to (max(w, cw), max(h, ch)) (extra pixel right/bottom), then crops at
  // int(round((h - ch) / 2)), Python's round: half to even. That equals one crop at a possibly negative offset.
  const int pad_left = width > image_width ? (width - image_width) / 2 : 0;
  const int pad_top = height > image_height ? (height - image_height) / 2 : 0;
  const int padded_w = std::max(image_width, width), padded_h = std::max(image_height, height);
  const int top = static_cast<int>(std::nearbyint((padded_h - height) / 2.0)) - pad_top;
  const int left = static_cast<int>(std::nearbyint((padded_w - width) / 2.0)) - pad_left;
  return {top, left, height, width};
}

Image pad(const Image& image, int left, int top, int right, int bottom, PadMode mode,
          std::array<std::uint8_t, 3> fill) {
  check_input(image, "pad");
  EDAT_CHECK(left >= 0 && top >= 0 && right >= 0 && bottom >= 0,
             "pad: padding " << left << ", " << top << ", " << right << ", " << bottom << " must not be negative");
  Image out(image.width + left + right, image.height + top + bottom);
  for (int y = 0; y < out.height; ++y) {
    const int sy = y - top;
    const bool row_inside = sy >= 0 && sy < image.height;
    for (int x = 0; x < out.width; ++x) {
      const int sx = x - left;
      std::uint8_t* dst = out.row(y) + 3 * x;
      if (row_inside && sx >= 0 && sx < image.width) {
        std::copy_n(image.row(sy) + 3 * sx, 3, dst);
      } else if (mode == PadMode::constant) {
        std::copy_n(fill.begin(), 3, dst);
      } else {
        std::copy_n(image.row(pad_index(sy, image.height, mode)) + 3 * pad_index(sx, image.width, mode), 3, dst);
      }
    }
  }
  return out;
}

Image hflip(const Image& image) {
  check_input(image, "hflip");
  Image out(image.width, image.height);
  const int w = image.width, n = 3 * w;
  for (int y = 0; y < image.height; ++y) {
    const std::uint8_t* __restrict src = image.row(y);
    std::uint8_t* __restrict dst = out.row(y);
    // The row's bytes reversed reverse the pixel order and each pixel's channels; a second pass over the row (in L1)
    // puts the channels back. Both loops vectorise, where a per-pixel copy in reverse order does not: 3x faster.
    for (int i = 0; i < n; ++i) dst[i] = src[n - 1 - i];
    for (int x = 0; x < w; ++x) {
      const std::uint8_t b = dst[3 * x], gr = dst[3 * x + 1], r = dst[3 * x + 2];
      dst[3 * x] = r, dst[3 * x + 1] = gr, dst[3 * x + 2] = b;  // (all three written: a whole group vectorises)
    }
  }
  return out;
}

Image rotate(const Image& image, float degrees, std::array<float, 3> fill) {
  check_input(image, "rotate");
  const int w = image.width, h = image.height;
  // F.rotate: the inverse affine matrix of a rotation by -angle about the centre, [cos a, sin a, 0, -sin a, cos a, 0]
  // with a = -angle (computed in double, stored as float32); _gen_affine_grid divides it by (w/2, h/2), applies it to
  // output pixel centres x + 0.5 - w/2; grid_sample (align_corners=False) maps back by (g + 1) w/2 - 0.5.
  const double a = -static_cast<double>(degrees) * std::numbers::pi / 180.0;
  const float m[4] = {static_cast<float>(std::cos(a)), static_cast<float>(std::sin(a)),
                      static_cast<float>(-std::sin(a)), static_cast<float>(std::cos(a))};
  const float half_w = 0.5f * static_cast<float>(w), half_h = 0.5f * static_cast<float>(h);
  const float r00 = m[0] / half_w, r01 = m[1] / half_w, r10 = m[2] / half_h, r11 = m[3] / half_h;
  Image out(w, h);
  for (int y = 0; y < h; ++y) {
    const float by = static_cast<float>(y) - half_h + 0.5f;
    for (int x = 0; x < w; ++x) {
      const float bx = static_cast<float>(x) - half_w + 0.5f;
      const float gx = bx * r00 + by * r01, gy = bx * r10 + by * r11;
      const float sx = (gx + 1.0f) * half_w - 0.5f, sy = (gy + 1.0f) * half_h - 0.5f;
      // grid_sample bilinear with zero padding; `mask` is the same sampling of an all-ones channel.
      const float fx = std::floor(sx), fy = std::floor(sy);
      const int x0 = static_cast<int>(fx), y0 = static_cast<int>(fy);
      const float ax = sx - fx, ay = sy - fy;
      const float w_nw = (1 - ax) * (1 - ay), w_ne = ax * (1 - ay), w_sw = (1 - ax) * ay, w_se = ax * ay;
      std::uint8_t* dst = out.row(y) + 3 * x;
      if (x0 >= 0 && y0 >= 0 && x0 + 1 < w && y0 + 1 < h) {  // all four neighbours inside (most pixels)
        const std::uint8_t* nw = image.row(y0) + 3 * x0;
        const std::uint8_t* sw = image.row(y0 + 1) + 3 * x0;
        const float mask = ((w_nw + w_ne) + w_sw) + w_se;
        for (int c = 0; c < 3; ++c) {
          const float v =
              ((float(nw[c]) * w_nw + float(nw[c + 3]) * w_ne) + float(sw[c]) * w_sw) + float(sw[c + 3]) * w_se;
          // torchvision blends as img * mask + (1 - mask) * fill, with img already zero-padded by grid_sample.
          dst[c] = round_to_u8(v * mask + (1.0f - mask) * fill[c]);
        }
        continue;
      }
      const float weights[4] = {w_nw, w_ne, w_sw, w_se};
      const int xs[4] = {x0, x0 + 1, x0, x0 + 1}, ys[4] = {y0, y0, y0 + 1, y0 + 1};
      float acc[3] = {0, 0, 0}, mask = 0;
      for (int k = 0; k < 4; ++k) {
        if (xs[k] < 0 || xs[k] >= w || ys[k] < 0 || ys[k] >= h) continue;
        const std::uint8_t* p = image.row(ys[k]) + 3 * xs[k];
        for (int c = 0; c < 3; ++c) acc[c] += static_cast<float>(p[c]) * weights[k];
        mask += weights[k];
      }
      for (int c = 0; c < 3; ++c) dst[c] = round_to_u8(acc[c] * mask + (1.0f - mask) * fill[c]);
    }
  }
  return out;
}

}  // namespace edat::data
