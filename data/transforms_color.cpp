// Colour transforms (torchvision F.adjust_brightness/contrast/saturation/hue on uint8 tensors) and normalisation.
// torchvision computes these in float32 and casts back to uint8 by truncation; so do we, in the same order.
#include <algorithm>
#include <cmath>

#include "data/transforms.h"
#include "tensor/error.h"
#include "tensor/factory.h"

namespace edat::data {
namespace {

void check_input(const Image& image, const char* what) {
  EDAT_CHECK(!image.empty() && image.pixels.size() == static_cast<std::size_t>(image.width) * image.height * 3,
             what << ": the image is empty or its pixel buffer does not match " << image.width << "x" << image.height);
}

void check_factor(double factor, const char* what) {
  EDAT_CHECK(factor >= 0, what << ": factor " << factor << " must not be negative");
}

// _blend: (ratio * a + (1 - ratio) * b).clamp(0, 255).to(uint8). The Python double ratio and 1 - ratio become
// float32 scalars; the cast truncates.
struct Blend {
  float ratio, rest;
  explicit Blend(double r) : ratio(static_cast<float>(r)), rest(static_cast<float>(1.0 - r)) {}
  std::uint8_t operator()(float a, float b) const {
    return static_cast<std::uint8_t>(std::clamp(ratio * a + rest * b, 0.0f, 255.0f));
  }
};

// rgb_to_grayscale for uint8: (0.2989 r + 0.587 g + 0.114 b) in float32, truncated to uint8.
std::uint8_t gray_of(const std::uint8_t* p) {
  return static_cast<std::uint8_t>(0.2989f * static_cast<float>(p[0]) + 0.587f * static_cast<float>(p[1]) +
                                   0.114f * static_cast<float>(p[2]));
}

// std::clamp(x, 0, 1) for the numbers here (never NaN), in a form the vectoriser accepts.
inline float unit_clamp(float x) { return std::min(std::max(x, 0.0f), 1.0f); }

// Runs `kernel(r, g, b, m)` over the image in chunks of up to kChunk pixels held as three float arrays (values
// 0..255), which it overwrites with the output values; those are then truncated to uint8. Planar chunks let the
// compiler vectorise the kernels' straight-line float code.
constexpr int kChunk = 64;
template <class Kernel>
Image map_pixels(const Image& image, Kernel&& kernel) {
  Image out(image.width, image.height);
  const std::size_t n = static_cast<std::size_t>(image.width) * image.height;
  alignas(64) float r[kChunk], g[kChunk], b[kChunk];
  for (std::size_t start = 0; start < n; start += kChunk) {
    const int m = static_cast<int>(std::min<std::size_t>(kChunk, n - start));
    const std::uint8_t* src = image.pixels.data() + 3 * start;
    for (int k = 0; k < m; ++k) {
      r[k] = static_cast<float>(src[3 * k]), g[k] = static_cast<float>(src[3 * k + 1]);
      b[k] = static_cast<float>(src[3 * k + 2]);
    }
    kernel(r, g, b, m);
    std::uint8_t* dst = out.pixels.data() + 3 * start;
    for (int k = 0; k < m; ++k) {
      dst[3 * k] = static_cast<std::uint8_t>(r[k]), dst[3 * k + 1] = static_cast<std::uint8_t>(g[k]);
      dst[3 * k + 2] = static_cast<std::uint8_t>(b[k]);
    }
  }
  return out;
}

// Blends every value with the constant `other` (brightness: black; contrast: the mean gray), vectorised.
Image blend_values(const Image& image, const Blend& blend, float other) {
  Image out(image.width, image.height);
  const float base = blend.rest * other;
  const std::uint8_t* src = image.pixels.data();
  std::uint8_t* dst = out.pixels.data();
  const std::size_t n = out.pixels.size();
  for (std::size_t i = 0; i < n; ++i) {
    dst[i] =
        static_cast<std::uint8_t>(std::min(std::max(blend.ratio * static_cast<float>(src[i]) + base, 0.0f), 255.0f));
  }
  return out;
}

}  // namespace

std::vector<std::uint8_t> grayscale(const Image& image) {
  check_input(image, "grayscale");
  std::vector<std::uint8_t> gray(static_cast<std::size_t>(image.width) * image.height);
  for (std::size_t i = 0; i < gray.size(); ++i) gray[i] = gray_of(&image.pixels[3 * i]);
  return gray;
}

Image adjust_brightness(const Image& image, double factor) {
  check_input(image, "adjust_brightness");
  check_factor(factor, "adjust_brightness");
  return blend_values(image, Blend(factor), 0.0f);  // blended with black
}

Image adjust_contrast(const Image& image, double factor) {
  check_input(image, "adjust_contrast");
  check_factor(factor, "adjust_contrast");
  // Blended with the mean of the (truncated) grayscale image; the float32 sum of integers below 2^24 is exact.
  std::uint64_t sum = 0;
  const std::size_t n = static_cast<std::size_t>(image.width) * image.height;
  for (std::size_t i = 0; i < n; ++i) sum += gray_of(&image.pixels[3 * i]);
  const float mean = static_cast<float>(sum) / static_cast<float>(n);
  return blend_values(image, Blend(factor), mean);
}

Image adjust_saturation(const Image& image, double factor) {
  check_input(image, "adjust_saturation");
  check_factor(factor, "adjust_saturation");
  const Blend blend(factor);  // blended with the pixel's own (truncated) gray
  return map_pixels(image, [&](float* r, float* g, float* b, int m) {
    for (int k = 0; k < m; ++k) {
      const float gray = std::trunc(0.2989f * r[k] + 0.587f * g[k] + 0.114f * b[k]);
      r[k] = std::clamp(blend.ratio * r[k] + blend.rest * gray, 0.0f, 255.0f);
      g[k] = std::clamp(blend.ratio * g[k] + blend.rest * gray, 0.0f, 255.0f);
      b[k] = std::clamp(blend.ratio * b[k] + blend.rest * gray, 0.0f, 255.0f);
    }
  });
}

Image adjust_hue(const Image& image, double hue_factor) {
  check_input(image, "adjust_hue");
  EDAT_CHECK(hue_factor >= -0.5 && hue_factor <= 0.5,
             "adjust_hue: hue_factor " << hue_factor << " is not in [-0.5, 0.5]");
  const float shift = static_cast<float>(hue_factor);
  return map_pixels(image, [&](float* rr, float* gg, float* bb, int m) {
    for (int k = 0; k < m; ++k) {
      const float r = rr[k] / 255.0f, g = gg[k] / 255.0f, b = bb[k] / 255.0f;
      // _rgb2hsv (PIL's formulas): s = (max - min) / max, h from whichever channel is the max.
      const float maxc = std::max(std::max(r, g), b), minc = std::min(std::min(r, g), b);
      const bool eqc = maxc == minc;
      const float cr = maxc - minc;
      const float s = cr / (eqc ? 1.0f : maxc);
      const float cr_divisor = eqc ? 1.0f : cr;
      const float rc = (maxc - r) / cr_divisor, gc = (maxc - g) / cr_divisor, bc = (maxc - b) / cr_divisor;
      const float hr = maxc == r ? bc - gc : 0.0f;
      // (written as chains of simple selects, which GCC vectorises; && and || it does not)
      float hg = maxc == g ? 2.0f + rc - bc : 0.0f;  // (maxc == g & maxc != r) * (2 + rc - bc)
      hg = maxc == r ? 0.0f : hg;
      float hb = maxc == g ? 0.0f : 4.0f + gc - rc;  // (maxc != g & maxc != r) * (4 + gc - rc)
      hb = maxc == r ? 0.0f : hb;
      // fmod(x, 1) for x in [0, 2) and torch.remainder(y, 1) for y in (-1, 2), exactly, without libm calls:
      // x - trunc(x) is exact there (Sterbenz), and remainder adds the divisor to a negative fmod.
      const float h0 = (hr + hg + hb) / 6.0f + 1.0f;
      const float y = (h0 - std::trunc(h0)) + shift;
      float h = y - std::trunc(y);
      h = h < 0.0f ? h + 1.0f : h;
      // _hsv2rgb: sector i = floor(6h) mod 6, fraction f, and the three ramps p, q, t clamped to [0, 1].
      const float v = maxc;
      const float h6 = h * 6.0f;
      const float fi = std::floor(h6);
      const float f = h6 - fi;
      const float sector = fi == 6.0f ? 0.0f : fi;
      const float p = unit_clamp(v * (1.0f - s));
      const float q = unit_clamp(v * (1.0f - s * f));
      const float t = unit_clamp(v * (1.0f - s * (1.0f - f)));
      // r = (v, q, p, p, t, v)[i], g = (t, v, v, q, p, p)[i], b = (p, p, t, v, v, q)[i]
      float ro = sector == 1.0f ? q : p;
      ro = sector == 4.0f ? t : ro;
      ro = sector == 0.0f ? v : ro;
      ro = sector == 5.0f ? v : ro;
      float go = sector == 0.0f ? t : p;
      go = sector == 3.0f ? q : go;
      go = sector == 1.0f ? v : go;
      go = sector == 2.0f ? v : go;
      float bo = sector == 2.0f ? t : p;
      bo = sector == 5.0f ? q : bo;
      bo = sector == 3.0f ? v : bo;
      bo = sector == 4.0f ? v : bo;
      rr[k] = ro * 255.0f, gg[k] = go * 255.0f, bb[k] = bo * 255.0f;
    }
  });
}

void Normalize::operator()(const Image& image, float* chw) const {
  check_input(image, "normalize");
  for (int c = 0; c < 3; ++c) EDAT_CHECK(std[c] != 0.0f, "normalize: std of channel " << c << " is zero");
  // ToTensor (x / 255 in float32) then Normalize ((x - mean) / std), in that order of float operations.
  const std::size_t plane = static_cast<std::size_t>(image.width) * image.height;
  const std::uint8_t* src = image.pixels.data();
  float* r = chw;
  float* g = chw + plane;
  float* b = chw + 2 * plane;
  const float mr = mean[0], mg = mean[1], mb = mean[2], sr = std[0], sg = std[1], sb = std[2];
  for (std::size_t i = 0; i < plane; ++i) {
    r[i] = (static_cast<float>(src[3 * i]) / 255.0f - mr) / sr;
    g[i] = (static_cast<float>(src[3 * i + 1]) / 255.0f - mg) / sg;
    b[i] = (static_cast<float>(src[3 * i + 2]) / 255.0f - mb) / sb;
  }
}

Tensor Normalize::to_tensor(const Image& image) const {
  Tensor out = empty({3, image.height, image.width});
  (*this)(image, out.data<float>());
  return out;
}

}  // namespace edat::data
