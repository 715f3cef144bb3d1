// Colour transforms (torchvision F.adjust_brightness/contrast/saturation/hue on uint8 tensors) and normalisation.
// torchvision computes these in float32 and casts back to uint8 by truncation; so do we, in the same order. This file
// is compiled with -ffp-contract=off (data/CMakeLists.txt): torch does not fuse a * b + c into an FMA, and the results
// must not depend on whether the compiler would; the FMAs below are written out on purpose.
//
// Every adjustment is a per-pixel kernel on a chunk of pixels held as three float arrays (planar, so that the compiler
// vectorises the kernels' straight-line code). adjust_colours runs a list of adjustments chunk by chunk, emulating the
// uint8 cast between them, so a ColorJitter costs one pass over the image (two when a contrast follows another
// adjustment: contrast needs the mean gray of its whole input first); the single adjust_* are one-element lists.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "data/transforms.h"
#include "tensor/error.h"
#include "tensor/factory.h"

namespace edat::data {
namespace {

void check_input(const Image& image, const char* what) {
  EDAT_CHECK(!image.empty() && image.pixels.size() == static_cast<std::size_t>(image.width) * image.height * 3,
             what << ": the image is empty or its pixel buffer does not match " << image.width << "x" << image.height);
}

// min/max rather than std::clamp: the same for the numbers here (never NaN), in a form the vectoriser accepts.
inline float clamp_to(float x, float high) { return std::min(std::max(x, 0.0f), high); }

// a / b correctly rounded, given inv_b = 1 / b (itself a correctly rounded division): q = a * inv_b is within about an
// ulp, the residual a - q b is exact in one FMA, and q + residual * inv_b rounds to a / b (Markstein's correction).
// That last step is not guaranteed for every float a and b, so each use here is checked for all its possible inputs
// (tests/test_transforms.cpp, ColourKernelsExhaustive). Two FMAs and a multiply are much cheaper than a division.
inline float divide(float a, float b, float inv_b) {
  const float q = a * inv_b;
  return std::fma(std::fma(-q, b, a), inv_b, q);
}

// rgb_to_grayscale for uint8 values (as floats): (0.2989 r + 0.587 g + 0.114 b) in float32, truncated to uint8.
inline float gray_value(float r, float g, float b) { return std::trunc(0.2989f * r + 0.587f * g + 0.114f * b); }

// _blend: (ratio * a + (1 - ratio) * b).clamp(0, 255), before the uint8 cast. The Python double ratio and 1 - ratio
// become float32 scalars.
struct Blend {
  float ratio, rest;
  explicit Blend(double r) : ratio(static_cast<float>(r)), rest(static_cast<float>(1.0 - r)) {}
  float operator()(float a, float b) const { return clamp_to(ratio * a + rest * b, 255.0f); }
};

// A chunk of up to kChunk pixels as planar floats, values 0..255.
constexpr int kChunk = 64;
struct Chunk {
  alignas(64) float r[kChunk], g[kChunk], b[kChunk];
  int size = 0;
};

// ---- the kernels: each overwrites the chunk with its (not yet truncated) output values ----

// brightness (other = 0: blended with black) and contrast (other = the mean gray).
void blend_kernel(Chunk& c, const Blend& blend, float other) {
  for (int k = 0; k < c.size; ++k) {
    c.r[k] = blend(c.r[k], other), c.g[k] = blend(c.g[k], other), c.b[k] = blend(c.b[k], other);
  }
}

// saturation: blended with the pixel's own (truncated) gray.
void saturation_kernel(Chunk& c, const Blend& blend) {
  for (int k = 0; k < c.size; ++k) {
    const float gray = gray_value(c.r[k], c.g[k], c.b[k]);
    c.r[k] = blend(c.r[k], gray), c.g[k] = blend(c.g[k], gray), c.b[k] = blend(c.b[k], gray);
  }
}

// hue: rgb_to_hsv, the hue shifted by torch.remainder(h + shift, 1), then _hsv2rgb and * 255.
void hue_kernel(Chunk& c, float shift) {
  alignas(64) float hue[kChunk], sat[kChunk], val[kChunk];
  rgb_to_hsv(c.r, c.g, c.b, hue, sat, val, static_cast<std::size_t>(c.size));
  for (int k = 0; k < c.size; ++k) {
    // torch.remainder(y, 1) for y in (-1, 2), exactly and without libm calls: y - trunc(y) is exact there
    // (Sterbenz), and remainder adds the divisor to a negative fmod.
    const float y = hue[k] + shift;
    float h = y - std::trunc(y);
    h = h < 0.0f ? h + 1.0f : h;
    // _hsv2rgb: sector i = floor(6h) mod 6, fraction f, and the three ramps p, q, t clamped to [0, 1].
    const float s = sat[k], v = val[k];
    const float h6 = h * 6.0f;
    const float fi = std::floor(h6);
    const float f = h6 - fi;
    const float sector = fi == 6.0f ? 0.0f : fi;
    const float p = clamp_to(v * (1.0f - s), 1.0f);
    const float q = clamp_to(v * (1.0f - s * f), 1.0f);
    const float t = clamp_to(v * (1.0f - s * (1.0f - f)), 1.0f);
    // r = (v, q, p, p, t, v)[i], g = (t, v, v, q, p, p)[i], b = (p, p, t, v, v, q)[i]
    // (written as chains of simple selects, which GCC vectorises)
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
    c.r[k] = ro * 255.0f, c.g[k] = go * 255.0f, c.b[k] = bo * 255.0f;
  }
}

// The uint8 cast after each adjustment; the values are in [0, 255] already.
void truncate(Chunk& c) {
  for (int k = 0; k < c.size; ++k)
    c.r[k] = std::trunc(c.r[k]), c.g[k] = std::trunc(c.g[k]), c.b[k] = std::trunc(c.b[k]);
}

// ---- chunks from and to images ----

void load(const Image& image, std::size_t start, Chunk& c) {
  const std::uint8_t* src = image.pixels.data() + 3 * start;
  for (int k = 0; k < c.size; ++k) {
    c.r[k] = static_cast<float>(src[3 * k]), c.g[k] = static_cast<float>(src[3 * k + 1]);
    c.b[k] = static_cast<float>(src[3 * k + 2]);
  }
}

void store(const Chunk& c, Image& image, std::size_t start) {
  std::uint8_t* dst = image.pixels.data() + 3 * start;
  for (int k = 0; k < c.size; ++k) {
    dst[3 * k] = static_cast<std::uint8_t>(c.r[k]), dst[3 * k + 1] = static_cast<std::uint8_t>(c.g[k]);
    dst[3 * k + 2] = static_cast<std::uint8_t>(c.b[k]);
  }
}

// The sum of the chunk's grayscale (integers: exact, and the vectoriser may add them in any order).
std::uint64_t gray_sum(const Chunk& c) {
  std::uint32_t sum = 0;
  for (int k = 0; k < c.size; ++k) sum += static_cast<std::uint32_t>(gray_value(c.r[k], c.g[k], c.b[k]));
  return sum;
}

// adjust_contrast's mean: torch's float32 mean of the grayscale; the float32 sum of integers is exact below 2^24.
float mean_gray(std::uint64_t sum, std::size_t n) { return static_cast<float>(sum) / static_cast<float>(n); }

// ---- running a list of adjustments ----

const char* name_of(ColourAdjustment::Kind kind) {
  static const char* names[] = {"adjust_brightness", "adjust_contrast", "adjust_saturation", "adjust_hue"};
  return names[kind];
}

// An adjustment with its float32 parameters.
struct Step {
  ColourAdjustment::Kind kind;
  Blend blend;        // brightness, contrast, saturation
  float shift;        // hue
  float mean = 0.0f;  // contrast: the mean gray of its input, known once the steps before it have run

  explicit Step(const ColourAdjustment& a) : kind(a.kind), blend(a.factor), shift(static_cast<float>(a.factor)) {
    if (kind == ColourAdjustment::hue) {
      EDAT_CHECK(a.factor >= -0.5 && a.factor <= 0.5,
                 "adjust_hue: hue_factor " << a.factor << " is not in [-0.5, 0.5]");
    } else {
      EDAT_CHECK(a.factor >= 0, name_of(kind) << ": factor " << a.factor << " must not be negative");
    }
  }

  void run(Chunk& c) const {
    switch (kind) {
      case ColourAdjustment::brightness:
        return blend_kernel(c, blend, 0.0f);
      case ColourAdjustment::contrast:
        return blend_kernel(c, blend, mean);
      case ColourAdjustment::saturation:
        return saturation_kernel(c, blend);
      case ColourAdjustment::hue:
        return hue_kernel(c, shift);
    }
  }
};

// One pass: every chunk of `in` through `steps` (with the uint8 cast after each), stored into `out`, which may be
// `in` itself, or nowhere (null). Returns the sum of the output's grayscale when `sum_gray` (else 0).
std::uint64_t run_pass(const Image& in, Image* out, const Step* steps, std::size_t count, bool sum_gray) {
  const std::size_t n = static_cast<std::size_t>(in.width) * in.height;
  std::uint64_t sum = 0;
  Chunk c;
  for (std::size_t start = 0; start < n; start += kChunk) {
    c.size = static_cast<int>(std::min<std::size_t>(kChunk, n - start));
    load(in, start, c);
    for (std::size_t i = 0; i < count; ++i) {
      steps[i].run(c);
      truncate(c);
    }
    if (sum_gray) sum += gray_sum(c);
    if (out) store(c, *out, start);
  }
  return sum;
}

Image adjust_one(const Image& image, ColourAdjustment::Kind kind, double factor) {
  check_input(image, name_of(kind));
  const ColourAdjustment adjustment{kind, factor};
  return adjust_colours(image, {&adjustment, 1});
}

}  // namespace

void rgb_to_hsv(const float* __restrict red, const float* __restrict green, const float* __restrict blue,
                float* __restrict hue, float* __restrict saturation, float* __restrict value, std::size_t n) {
  // _rgb2hsv (PIL's formulas) on x / 255: s = (max - min) / max, h from whichever channel is the max. Its eight
  // divisions are two here (1 / max, 1 / (max - min)) and corrected multiplications (divide above).
  constexpr float inv255 = 1.0f / 255.0f, inv6 = 1.0f / 6.0f;
  for (std::size_t k = 0; k < n; ++k) {
    const float r = divide(red[k], 255.0f, inv255), g = divide(green[k], 255.0f, inv255);
    const float b = divide(blue[k], 255.0f, inv255);
    const float maxc = std::max(std::max(r, g), b), minc = std::min(std::min(r, g), b);
    const bool eqc = maxc == minc;
    const float cr = maxc - minc;
    const float max_divisor = eqc ? 1.0f : maxc, cr_divisor = eqc ? 1.0f : cr;
    const float inv_max = 1.0f / max_divisor, inv_cr = 1.0f / cr_divisor;
    const float s = divide(cr, max_divisor, inv_max);
    const float rc = divide(maxc - r, cr_divisor, inv_cr), gc = divide(maxc - g, cr_divisor, inv_cr);
    const float bc = divide(maxc - b, cr_divisor, inv_cr);
    const float hr = maxc == r ? bc - gc : 0.0f;
    // (written as chains of simple selects, which GCC vectorises; && and || it does not)
    float hg = maxc == g ? 2.0f + rc - bc : 0.0f;  // (maxc == g & maxc != r) * (2 + rc - bc)
    hg = maxc == r ? 0.0f : hg;
    float hb = maxc == g ? 0.0f : 4.0f + gc - rc;  // (maxc != g & maxc != r) * (4 + gc - rc)
    hb = maxc == r ? 0.0f : hb;
    // fmod(h / 6 + 1, 1): the argument is in [0, 2), where x - trunc(x) is exact.
    const float h0 = divide(hr + hg + hb, 6.0f, inv6) + 1.0f;
    hue[k] = h0 - std::trunc(h0);
    saturation[k] = s;
    value[k] = maxc;
  }
}

std::vector<std::uint8_t> grayscale(const Image& image) {
  check_input(image, "grayscale");
  std::vector<std::uint8_t> gray(static_cast<std::size_t>(image.width) * image.height);
  for (std::size_t i = 0; i < gray.size(); ++i) {
    const std::uint8_t* p = &image.pixels[3 * i];
    gray[i] = static_cast<std::uint8_t>(
        gray_value(static_cast<float>(p[0]), static_cast<float>(p[1]), static_cast<float>(p[2])));
  }
  return gray;
}

Image adjust_colours(const Image& image, std::span<const ColourAdjustment> adjustments) {
  check_input(image, "adjust_colours");
  std::vector<Step> steps(adjustments.begin(), adjustments.end());
  if (steps.empty()) return image;
  const std::size_t n = static_cast<std::size_t>(image.width) * image.height;
  // A pass runs from one contrast to the next (or from the start); it also sums the gray of its output when a
  // contrast follows, and the next pass continues in place. A leading contrast gets its mean from the input.
  if (steps.front().kind == ColourAdjustment::contrast) {
    steps.front().mean = mean_gray(run_pass(image, nullptr, nullptr, 0, true), n);
  }
  Image out(image.width, image.height);
  const Image* in = &image;
  std::size_t begin = 0;
  while (begin < steps.size()) {
    std::size_t end = begin + 1;
    while (end < steps.size() && steps[end].kind != ColourAdjustment::contrast) ++end;
    const bool contrast_next = end < steps.size();
    const std::uint64_t sum = run_pass(*in, &out, steps.data() + begin, end - begin, contrast_next);
    if (contrast_next) steps[end].mean = mean_gray(sum, n);
    in = &out;
    begin = end;
  }
  return out;
}

Image adjust_brightness(const Image& image, double factor) {
  return adjust_one(image, ColourAdjustment::brightness, factor);
}
Image adjust_contrast(const Image& image, double factor) {
  return adjust_one(image, ColourAdjustment::contrast, factor);
}
Image adjust_saturation(const Image& image, double factor) {
  return adjust_one(image, ColourAdjustment::saturation, factor);
}
Image adjust_hue(const Image& image, double hue_factor) { return adjust_one(image, ColourAdjustment::hue, hue_factor); }

namespace {

// ToTensor then Normalize, as torch computes them: x / 255 in float32, then (x - mean) / std.
inline float normalized(float x, float mean, float std) { return (x / 255.0f - mean) / std; }
// The same with corrected multiplications (divide) instead of the two divisions: twice as fast. x / 255 is exact for
// every x (the exhaustive hsv test checks it); the quotient by std is checked for the 256 values of a channel by
// division_free_is_exact before each use.
inline float normalized_division_free(float x, float mean, float std, float inv_std) {
  return divide(divide(x, 255.0f, 1.0f / 255.0f) - mean, std, inv_std);
}

bool division_free_is_exact(float mean, float std) {
  const float inv_std = 1.0f / std;
  int differ = 0;
  for (int x = 0; x < 256; ++x) {
    const float v = static_cast<float>(x);
    differ += normalized(v, mean, std) != normalized_division_free(v, mean, std, inv_std);
  }
  return differ == 0;
}

// Writes normalize(value, channel) of every pixel into the three planes of `chw`.
template <class Normalise>
void normalize_planes(const Image& image, float* chw, Normalise&& normalize) {
  const std::size_t plane = static_cast<std::size_t>(image.width) * image.height;
  const std::uint8_t* src = image.pixels.data();
  float* r = chw;
  float* g = chw + plane;
  float* b = chw + 2 * plane;
  for (std::size_t i = 0; i < plane; ++i) {
    r[i] = normalize(static_cast<float>(src[3 * i]), 0);
    g[i] = normalize(static_cast<float>(src[3 * i + 1]), 1);
    b[i] = normalize(static_cast<float>(src[3 * i + 2]), 2);
  }
}

}  // namespace

void Normalize::operator()(const Image& image, float* chw) const {
  check_input(image, "normalize");
  for (int c = 0; c < 3; ++c) EDAT_CHECK(std[c] != 0.0f, "normalize: std of channel " << c << " is zero");
  const bool division_free = division_free_is_exact(mean[0], std[0]) && division_free_is_exact(mean[1], std[1]) &&
                             division_free_is_exact(mean[2], std[2]);
  // (captured by value: the output floats could otherwise alias this struct's, which stops the vectoriser)
  const std::array<float, 3> m = mean, s = std, inv_s{1.0f / s[0], 1.0f / s[1], 1.0f / s[2]};
  if (division_free) {
    normalize_planes(image, chw, [=](float x, int c) { return normalized_division_free(x, m[c], s[c], inv_s[c]); });
  } else {
    normalize_planes(image, chw, [=](float x, int c) { return normalized(x, m[c], s[c]); });
  }
}

Tensor Normalize::to_tensor(const Image& image) const {
  Tensor out = empty({3, image.height, image.width});
  (*this)(image, out.data<float>());
  return out;
}

}  // namespace edat::data
