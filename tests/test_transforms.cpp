// Transforms: pixel comparisons against torchvision 0.14 (tests/fixtures/data/transforms.safetensors, made by
// scripts/fixtures_data.py), small hand-computed cases, and the random transforms' semantics and determinism.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <numeric>
#include <set>
#include <sstream>

#include "data/transforms.h"
#include "data_test_util.h"
#include "test_util.h"

namespace edat::data {
namespace {

using edat::testing::images_near;
using edat::testing::throws_with;

const std::map<std::string, Tensor>& fixtures() {
  static const auto f = edat::testing::load_fixture(std::string(EDAT_DATA_FIXTURES) + "/transforms.safetensors");
  return f;
}
Image fixture(const std::string& name) {
  const auto it = fixtures().find(name);
  EXPECT_NE(it, fixtures().end()) << "fixture " << name << " is missing";
  return it == fixtures().end() ? Image() : edat::testing::image_from_hwc(it->second);
}
const Image& card() {
  static const Image image = fixture("image");
  return image;
}
// "1.7" as Python's str(float) prints it.
std::string py_float(double v) {
  std::ostringstream out;
  out << v;
  std::string s = out.str();
  return s.find('.') == std::string::npos ? s + ".0" : s;
}

// An image whose pixels are given row by row as {r, g, b} triples.
Image make_image(int width, int height, std::vector<std::uint8_t> pixels) {
  Image image(width, height);
  EXPECT_EQ(pixels.size(), image.pixels.size());
  image.pixels = std::move(pixels);
  return image;
}

// ---- against torchvision ----

TEST(TransformsTorchvision, Resize) {
  for (auto [w, h] :
       std::vector<std::pair<int, int>>{{13, 11}, {20, 23}, {31, 10}, {5, 4}, {50, 45}, {61, 30}, {1, 1}}) {
    const std::string size = std::to_string(w) + "x" + std::to_string(h);
    SCOPED_TRACE(size);
    EXPECT_TRUE(images_near(resize(card(), w, h, true), fixture("resize/" + size + "_aa"), 1));
    EXPECT_TRUE(images_near(resize(card(), w, h, false), fixture("resize/" + size + "_plain"), 1));
  }
  for (int s : {17, 40}) {
    SCOPED_TRACE(s);
    EXPECT_TRUE(images_near(resize_shorter_side(card(), s), fixture("resize/short_" + std::to_string(s)), 1));
  }
}

TEST(TransformsTorchvision, ColourAdjustments) {
  // Exact: every float operation rounded as torch rounds it (no FMA contraction; see data/transforms_color.cpp).
  for (double f : {0.0, 0.6, 1.7}) {
    EXPECT_TRUE(images_near(adjust_brightness(card(), f), fixture("brightness/" + py_float(f)), 0)) << f;
  }
  for (double f : {0.0, 0.5, 1.8}) {
    EXPECT_TRUE(images_near(adjust_contrast(card(), f), fixture("contrast/" + py_float(f)), 0)) << f;
  }
  for (double f : {0.0, 0.4, 2.0}) {
    EXPECT_TRUE(images_near(adjust_saturation(card(), f), fixture("saturation/" + py_float(f)), 0)) << f;
  }
  for (double f : {-0.5, -0.4, -0.1, 0.0, 0.25, 0.5}) {
    EXPECT_TRUE(images_near(adjust_hue(card(), f), fixture("hue/" + py_float(f)), 0)) << f;
  }
}

TEST(TransformsTorchvision, Rotate) {
  struct Case {
    float degrees;
    std::array<float, 3> fill;
    const char* name;
  };
  for (const Case& c :
       {Case{30.0f, {0, 0, 0}, "rotate/30.0_fill_0_0_0"}, Case{-75.0f, {255, 128, 0}, "rotate/-75.0_fill_255_128_0"},
        Case{90.0f, {0, 0, 0}, "rotate/90.0_fill_0_0_0"}, Case{7.5f, {10, 20, 30}, "rotate/7.5_fill_10_20_30"}}) {
    EXPECT_TRUE(images_near(rotate(card(), c.degrees, c.fill), fixture(c.name), 1)) << c.name;
  }
}

TEST(TransformsTorchvision, CenterCropAndPad) {
  for (auto [w, h] : std::vector<std::pair<int, int>>{{20, 10}, {21, 11}, {30, 22}, {31, 23}, {34, 27}, {35, 24}}) {
    const std::string size = std::to_string(w) + "x" + std::to_string(h);
    EXPECT_TRUE(images_near(center_crop(card(), h, w), fixture("center_crop/" + size), 0)) << size;
  }
  const std::pair<PadMode, const char*> modes[] = {{PadMode::constant, "constant"},
                                                   {PadMode::edge, "edge"},
                                                   {PadMode::reflect, "reflect"},
                                                   {PadMode::symmetric, "symmetric"}};
  for (auto [mode, name] : modes) {
    EXPECT_TRUE(images_near(pad(card(), 3, 2, 4, 5, mode), fixture(std::string("pad/") + name), 0)) << name;
  }
}

TEST(TransformsTorchvision, Normalize) {
  const Tensor got = Normalize{}.to_tensor(card());
  EXPECT_EQ(got.shape(), (Shape{3, card().height, card().width}));
  EXPECT_TRUE(edat::testing::all_close(got, fixtures().at("normalize"), 1e-6, 1e-6));
}

TEST(TransformsTorchvision, NormalizeIsBitExactForEveryValue) {
  // Normalize may skip its divisions (corrected multiplications, checked per call); the result must be torch's
  // (x / 255 - mean) / std bit for bit, for every value, ImageNet's statistics and random ones.
  Image values(256, 1);
  for (int x = 0; x < 256; ++x)
    values.at(0, x, 0) = values.at(0, x, 1) = values.at(0, x, 2) = static_cast<std::uint8_t>(x);
  Generator rng(9);
  std::vector<Normalize> normalizes{Normalize{}};
  for (int k = 0; k < 300; ++k) {
    Normalize n;
    for (int c = 0; c < 3; ++c) {
      n.mean[c] = static_cast<float>(rng.next_unit());
      n.std[c] = static_cast<float>(0.01 + 2 * rng.next_unit());
    }
    normalizes.push_back(n);
  }
  std::vector<float> chw(3 * 256);
  for (const Normalize& n : normalizes) {
    n(values, chw.data());
    for (int c = 0; c < 3; ++c) {
      for (int x = 0; x < 256; ++x) {
        const float want = (static_cast<float>(x) / 255.0f - n.mean[c]) / n.std[c];
        ASSERT_EQ(std::bit_cast<std::uint32_t>(chw[c * 256 + x]), std::bit_cast<std::uint32_t>(want))
            << "x " << x << ", mean " << n.mean[c] << ", std " << n.std[c];
      }
    }
  }
}

// ---- hand-computed ----

TEST(Transforms, ResizeToSameSizeIsUnchanged) {
  const Image image = edat::testing::synthetic_image(9, 7);
  EXPECT_EQ(resize(image, 9, 7).pixels, image.pixels);
  EXPECT_EQ(resize_shorter_side(image, 7).pixels, image.pixels);
}

TEST(Transforms, ResizeHandCases) {
  // 2x1 -> 1x1 with antialias averages (triangle of support 2 centred between the two pixels): (10 + 30) / 2.
  EXPECT_EQ(resize(make_image(2, 1, {10, 20, 30, 30, 40, 50}), 1, 1).pixels, (std::vector<std::uint8_t>{20, 30, 40}));
  // 1x1 -> 3x2 replicates.
  std::vector<std::uint8_t> replicated;
  for (int i = 0; i < 18; ++i) replicated.push_back(static_cast<std::uint8_t>(7 + i % 3));
  EXPECT_EQ(resize(make_image(1, 1, {7, 8, 9}), 3, 2).pixels, replicated);
  // 2x1 -> 4x1 bilinear, align_corners=False: sources -0.25, 0.25, 0.75, 1.25 -> 0, 25, 75, 100 of the way.
  const Image up = resize(make_image(2, 1, {0, 0, 0, 200, 100, 40}), 4, 1);
  EXPECT_EQ(up.pixels, (std::vector<std::uint8_t>{0, 0, 0, 50, 25, 10, 150, 75, 30, 200, 100, 40}));
  // The int-size rule: the shorter side to size, the longer int(size * long / short).
  EXPECT_EQ(shorter_side_size(200, 100, 50), (std::array<int, 2>{100, 50}));
  EXPECT_EQ(shorter_side_size(100, 300, 64), (std::array<int, 2>{64, 192}));
  EXPECT_EQ(shorter_side_size(99, 100, 50), (std::array<int, 2>{50, 50}));  // int(50.505...)
}

TEST(Transforms, ResizeRefusesOutputsBeyondTheLimit) {
  // A 16M x 1 image resized to a shorter side of 146 would be 2.4G x 146 pixels: an int overflow, then 11.6 GB.
  EXPECT_TRUE(edat::testing::throws_with([] { shorter_side_size(1 << 24, 1, 146); },
                                         {"16777216x1", "shorter side resized to 146", "more than the limit"}));
  EXPECT_TRUE(edat::testing::throws_with([] { resize(Image(4, 4), 100000, 100000); },
                                         {"100000x100000 is more than the limit of 67108864 pixels"}));
  const Image wide(1 << 16, 1);  // 64K x 1 to 146: 9.5M x 146, also refused before allocating anything
  EXPECT_TRUE(edat::testing::throws_with([&] { resize_shorter_side(wide, 146); }, {"65536x1", "more than the limit"}));
}

TEST(Transforms, CropFlipPad) {
  // 3x2 image, pixel value = 10 * (y * 3 + x) + channel.
  std::vector<std::uint8_t> px;
  for (int i = 0; i < 18; ++i) px.push_back(static_cast<std::uint8_t>(10 * (i / 3) + i % 3));
  const Image image = make_image(3, 2, px);
  EXPECT_EQ(hflip(image).at(0, 0, 0), 20);
  EXPECT_EQ(hflip(image).at(1, 2, 1), 31);
  EXPECT_EQ(hflip(hflip(image)).pixels, image.pixels);
  const Image c = crop(image, 1, 1, 1, 2);  // row 1, columns 1..2
  EXPECT_EQ(c.pixels, (std::vector<std::uint8_t>{40, 41, 42, 50, 51, 52}));
  const Image outside = crop(image, -1, 2, 2, 2);  // partly outside: black there
  EXPECT_EQ(outside.pixels, (std::vector<std::uint8_t>{0, 0, 0, 0, 0, 0, 20, 21, 22, 0, 0, 0}));
  const Image reflect = pad(make_image(3, 1, {1, 1, 1, 2, 2, 2, 3, 3, 3}), 2, 0, 2, 0, PadMode::reflect);
  std::vector<int> reds;
  for (int x = 0; x < reflect.width; ++x) reds.push_back(reflect.at(0, x, 0));
  EXPECT_EQ(reds, (std::vector<int>{3, 2, 1, 2, 3, 2, 1}));
  const Image filled = pad(image, 1, 0, 0, 0, PadMode::constant, {9, 8, 7});
  EXPECT_EQ(filled.at(1, 0, 2), 7);
  EXPECT_EQ(filled.at(1, 1, 0), 30);
}

TEST(Transforms, RotateIdentityAnd180) {
  const Image image = edat::testing::synthetic_image(12, 12);
  EXPECT_TRUE(images_near(rotate(image, 0.0f), image, 0));
  // 180 degrees about the centre is a flip of both axes (every sample lands on a pixel centre).
  Image flipped = hflip(image);
  Image both(12, 12);
  for (int y = 0; y < 12; ++y) std::copy_n(flipped.row(11 - y), 36, both.row(y));
  EXPECT_TRUE(images_near(rotate(image, 180.0f), both, 1));
}

TEST(Transforms, ColourIdentities) {
  EXPECT_EQ(adjust_brightness(card(), 1.0).pixels, card().pixels);
  EXPECT_EQ(adjust_contrast(card(), 1.0).pixels, card().pixels);
  EXPECT_EQ(adjust_saturation(card(), 1.0).pixels, card().pixels);
  EXPECT_TRUE(images_near(adjust_hue(card(), 0.0), card(), 1));
  EXPECT_TRUE(throws_with([] { adjust_hue(card(), 0.6); }, {"adjust_hue", "0.6"}));
  EXPECT_TRUE(throws_with([] { adjust_brightness(card(), -1); }, {"adjust_brightness", "negative"}));
  // brightness 0.5 on one pixel: trunc(0.5 * 201) = 100.
  EXPECT_EQ(adjust_brightness(make_image(1, 1, {201, 3, 255}), 0.5).pixels, (std::vector<std::uint8_t>{100, 1, 127}));
}

// ---- the colour kernels, exhaustively ----
//
// The fast hue kernel replaces torch's float32 divisions by corrected multiplications, which are exact only where
// checked; its input is one of the 2^24 colours, so every case is checked here. This file is compiled with
// -ffp-contract=off (tests/CMakeLists.txt), so the references below round every operation, as torch does.

// torchvision's _rgb2hsv for one colour, straight from its formulas with plain divisions.
struct Hsv {
  float h, s, v;
};
Hsv reference_rgb_to_hsv(int red, int green, int blue) {
  const float r = static_cast<float>(red) / 255.0f, g = static_cast<float>(green) / 255.0f;
  const float b = static_cast<float>(blue) / 255.0f;
  const float maxc = std::max({r, g, b}), minc = std::min({r, g, b});
  const bool eqc = maxc == minc;
  const float cr = maxc - minc;
  const float s = cr / (eqc ? 1.0f : maxc);
  const float cr_divisor = eqc ? 1.0f : cr;
  const float rc = (maxc - r) / cr_divisor, gc = (maxc - g) / cr_divisor, bc = (maxc - b) / cr_divisor;
  const float hr = static_cast<float>(maxc == r) * (bc - gc);
  const float hg = static_cast<float>(maxc == g && maxc != r) * (2.0f + rc - bc);
  const float hb = static_cast<float>(maxc != g && maxc != r) * (4.0f + gc - rc);
  return {std::fmod((hr + hg + hb) / 6.0f + 1.0f, 1.0f), s, maxc};
}

// torchvision's adjust_hue for one colour given its reference hsv: torch.remainder, _hsv2rgb, * 255, uint8 cast.
std::array<std::uint8_t, 3> reference_hue(const Hsv& hsv, double hue_factor) {
  float h = std::fmod(hsv.h + static_cast<float>(hue_factor), 1.0f);  // torch.remainder(x, 1)
  if (h != 0.0f && h < 0.0f) h += 1.0f;
  const float i = std::floor(h * 6.0f), f = h * 6.0f - i;
  const float v = hsv.v, p = std::clamp(v * (1.0f - hsv.s), 0.0f, 1.0f);
  const float q = std::clamp(v * (1.0f - hsv.s * f), 0.0f, 1.0f);
  const float t = std::clamp(v * (1.0f - hsv.s * (1.0f - f)), 0.0f, 1.0f);
  const float rgb[6][3] = {{v, t, p}, {q, v, p}, {p, v, t}, {p, q, v}, {t, p, v}, {v, p, q}};
  const float* out = rgb[static_cast<int>(i) % 6];
  return {static_cast<std::uint8_t>(out[0] * 255.0f), static_cast<std::uint8_t>(out[1] * 255.0f),
          static_cast<std::uint8_t>(out[2] * 255.0f)};
}

// The 65536 colours with this red, as a 256x256 image (green down, blue across).
Image colours_with_red(int red) {
  Image image(256, 256);
  for (int g = 0; g < 256; ++g) {
    for (int b = 0; b < 256; ++b) {
      std::uint8_t* p = &image.at(g, b, 0);
      p[0] = static_cast<std::uint8_t>(red), p[1] = static_cast<std::uint8_t>(g), p[2] = static_cast<std::uint8_t>(b);
    }
  }
  return image;
}

TEST(ColourKernelsExhaustive, RgbToHsvMatchesTorchForAllColours) {
  std::vector<float> r(65536), g(65536), b(65536), h(65536), s(65536), v(65536);
  std::size_t mismatches = 0;
  for (int red = 0; red < 256; ++red) {
    for (int i = 0; i < 65536; ++i) {
      r[i] = static_cast<float>(red), g[i] = static_cast<float>(i >> 8), b[i] = static_cast<float>(i & 255);
    }
    rgb_to_hsv(r.data(), g.data(), b.data(), h.data(), s.data(), v.data(), 65536);
    for (int i = 0; i < 65536; ++i) {
      const Hsv want = reference_rgb_to_hsv(red, i >> 8, i & 255);
      const bool same = std::bit_cast<std::uint32_t>(h[i]) == std::bit_cast<std::uint32_t>(want.h) &&
                        std::bit_cast<std::uint32_t>(s[i]) == std::bit_cast<std::uint32_t>(want.s) &&
                        std::bit_cast<std::uint32_t>(v[i]) == std::bit_cast<std::uint32_t>(want.v);
      if (!same && ++mismatches <= 5) {
        ADD_FAILURE() << "rgb (" << red << ", " << (i >> 8) << ", " << (i & 255) << "): hsv " << h[i] << " " << s[i]
                      << " " << v[i] << ", torch " << want.h << " " << want.s << " " << want.v;
      }
    }
  }
  EXPECT_EQ(mismatches, 0u);
}

TEST(ColourKernelsExhaustive, AdjustHueMatchesTorchForAllColours) {
  const double shifts[] = {-0.5, -0.05, 0.013, 0.05, 0.5};
  std::size_t mismatches = 0;
  for (int red = 0; red < 256; ++red) {
    const Image colours = colours_with_red(red);
    std::vector<Hsv> hsv(65536);
    for (int i = 0; i < 65536; ++i) hsv[i] = reference_rgb_to_hsv(red, i >> 8, i & 255);
    for (double shift : shifts) {
      const Image got = adjust_hue(colours, shift);
      for (int i = 0; i < 65536; ++i) {
        const std::array<std::uint8_t, 3> want = reference_hue(hsv[i], shift);
        if (!std::equal(want.begin(), want.end(), &got.pixels[3 * i]) && ++mismatches <= 5) {
          ADD_FAILURE() << "rgb (" << red << ", " << (i >> 8) << ", " << (i & 255) << ") shifted by " << shift;
        }
      }
    }
  }
  EXPECT_EQ(mismatches, 0u);
}

// ---- the fused colour adjustments ----

// The single adjust_* functions one after another: what adjust_colours and ColorJitter must equal.
Image adjust_sequentially(Image image, const std::vector<ColourAdjustment>& adjustments) {
  Image (*const single[])(const Image&, double) = {adjust_brightness, adjust_contrast, adjust_saturation, adjust_hue};
  for (const ColourAdjustment& a : adjustments) image = single[a.kind](image, a.factor);
  return image;
}

// Random images (sizes that are not multiples of the kernels' chunk), extreme values only (0 and 255), a uniform
// gray (max == min everywhere) and a single pixel.
std::vector<Image> colour_test_images() {
  std::vector<Image> images{edat::testing::synthetic_image(37, 29, 3), Image(23, 19), Image(31, 17), Image(9, 7),
                            Image(1, 1)};
  Generator rng(42);
  for (std::uint8_t& x : images[1].pixels) x = static_cast<std::uint8_t>(rng.next_bits());
  for (std::uint8_t& x : images[2].pixels) x = rng.next_unit() < 0.5 ? 0 : 255;
  std::fill(images[3].pixels.begin(), images[3].pixels.end(), 131);
  images[4].pixels = {255, 0, 77};
  return images;
}

TEST(ColourAdjustments, FusedEqualsSequentialForAllOrdersAndSubsets) {
  const std::vector<Image> images = colour_test_images();
  int order[4] = {0, 1, 2, 3};
  Generator rng(7);
  do {
    for (int enabled = 0; enabled < 16; ++enabled) {  // bit k: adjustment k is on
      for (int draw = 0; draw < 3; ++draw) {
        std::vector<ColourAdjustment> adjustments;
        for (int k : order) {
          if (!(enabled >> k & 1)) continue;
          // factors up to 2 (0 and 2 included on the first draws), hue in [-0.5, 0.5]
          const double u = draw == 0 ? 0.0 : draw == 1 ? 1.0 : rng.next_unit();
          adjustments.push_back({static_cast<ColourAdjustment::Kind>(k), k == 3 ? u - 0.5 : 2.0 * u});
        }
        for (const Image& image : images) {
          EXPECT_EQ(adjust_colours(image, adjustments).pixels, adjust_sequentially(image, adjustments).pixels)
              << "order " << order[0] << order[1] << order[2] << order[3] << ", enabled " << enabled << ", draw "
              << draw << ", image " << image.width << "x" << image.height;
        }
      }
    }
  } while (std::next_permutation(order, order + 4));
}

// ---- random transforms ----

TEST(RandomTransforms, SampleGeneratorIsAPureFunction) {
  Generator a = sample_generator(1, 2, 3), b = sample_generator(1, 2, 3);
  EXPECT_EQ(a.next_bits(), b.next_bits());
  std::set<std::uint64_t> firsts;
  for (std::uint64_t seed : {1, 2})
    for (std::uint64_t epoch : {0, 1})
      for (std::uint64_t index : {0, 1, 2}) firsts.insert(sample_generator(seed, epoch, index).next_bits());
  EXPECT_EQ(firsts.size(), 12u);
}

TEST(RandomTransforms, RandomCropIsASubImage) {
  const Image image = edat::testing::synthetic_image(20, 15);
  const RandomCrop random_crop(8, 10);
  std::set<std::pair<int, int>> positions;
  for (std::uint64_t i = 0; i < 200; ++i) {
    Generator rng = sample_generator(7, 0, i);
    const Image out = random_crop.apply(image, rng);
    ASSERT_EQ(out.width, 10);
    ASSERT_EQ(out.height, 8);
    // Find where it came from: every position must be legal, and all 11 x 8 should appear.
    bool found = false;
    for (int top = 0; top <= 7 && !found; ++top) {
      for (int left = 0; left <= 10 && !found; ++left) {
        if (crop(image, top, left, 8, 10).pixels == out.pixels) positions.insert({top, left}), found = true;
      }
    }
    ASSERT_TRUE(found);
  }
  EXPECT_GT(positions.size(), 60u);
  // Same generator state, same crop.
  Generator g1 = sample_generator(1, 1, 1), g2 = sample_generator(1, 1, 1);
  EXPECT_EQ(random_crop.apply(image, g1).pixels, random_crop.apply(image, g2).pixels);
}

TEST(RandomTransforms, RandomCropPaddingAndErrors) {
  const Image image = edat::testing::synthetic_image(10, 10);
  Generator rng(3);
  const Image padded = RandomCrop(10, 10, 4).apply(image, rng);  // from the 18x18 padded image
  EXPECT_EQ(padded.width, 10);
  const Image grown = RandomCrop(12, 14, 0, true).apply(image, rng);
  EXPECT_EQ(grown.width, 14);
  EXPECT_EQ(grown.height, 12);
  EXPECT_TRUE(throws_with([&] { RandomCrop(12, 12).apply(image, rng); }, {"RandomCrop", "12x12", "10x10"}));
}

TEST(RandomTransforms, RandomResizedCropBoxes) {
  const RandomResizedCrop rrc(16, 16, {0.25f, 0.5f}, {0.75f, 1.25f});
  int fallback = 0;
  for (std::uint64_t i = 0; i < 300; ++i) {
    Generator rng = sample_generator(3, 0, i);
    const auto [top, left, h, w] = *rrc.input_box(60, 40, rng);
    ASSERT_GE(top, 0);
    ASSERT_GE(left, 0);
    ASSERT_LE(top + h, 40);
    ASSERT_LE(left + w, 60);
    const double area = double(w) * h / (60.0 * 40.0);
    if (area > 0.55)
      ++fallback;
    else
      EXPECT_GE(area, 0.2);
  }
  EXPECT_EQ(fallback, 0);
  Generator rng(1);
  const Image out = rrc.apply(edat::testing::synthetic_image(60, 40), rng);
  EXPECT_EQ(out.width, 16);
  EXPECT_EQ(out.height, 16);
  // An impossible ratio range falls back to the centred crop clamped to the range.
  const RandomResizedCrop tall(8, 8, {0.9f, 1.0f}, {4.0f, 5.0f});
  Generator rng2(2);
  EXPECT_EQ(*tall.input_box(40, 40, rng2), (Box{15, 0, 10, 40}));
}

TEST(RandomTransforms, InputBoxThenFinishBoxIsApply) {
  // What the loader relies on to decode only the box: same draws, same pixels (Transform::input_box).
  const Image image = edat::testing::synthetic_image(61, 47, 2);
  const RandomCrop random_crop(30, 40), whole_crop(47, 61);
  const CenterCrop center_odd(20, 33), center_even(46, 60);
  const RandomResizedCrop resized_crop(24, 24, {0.2f, 1.0f});
  for (const Transform* t :
       std::initializer_list<const Transform*>{&random_crop, &whole_crop, &center_odd, &center_even, &resized_crop}) {
    for (std::uint64_t i = 0; i < 30; ++i) {
      SCOPED_TRACE(t->describe() + ", sample " + std::to_string(i));
      Generator box_rng = sample_generator(4, 1, i), apply_rng = sample_generator(4, 1, i);
      const std::optional<Box> box = t->input_box(image.width, image.height, box_rng);
      ASSERT_TRUE(box.has_value());
      const Image part = crop(image, box->top, box->left, box->height, box->width);
      ASSERT_TRUE(images_near(t->finish_box(part), t->apply(image, apply_rng), 0));
      EXPECT_EQ(box_rng.offset(), apply_rng.offset());
    }
  }
  // Transforms that pad, or that are no crop, need the whole image: no box, nothing drawn.
  Generator rng(1);
  EXPECT_FALSE(RandomCrop(30, 30, 4).input_box(61, 47, rng));
  EXPECT_FALSE(RandomCrop(50, 50, 0, true).input_box(61, 47, rng));
  EXPECT_FALSE(CenterCrop(50, 50).input_box(61, 47, rng));
  EXPECT_FALSE(RandomHorizontalFlip().input_box(61, 47, rng));
  EXPECT_FALSE(Resize(20).input_box(61, 47, rng));
  EXPECT_EQ(rng.offset(), 0u);
  // Compose asks its first transform, and goes on from the box.
  Compose compose;
  compose.add<RandomCrop>(30, 30).add<RandomHorizontalFlip>().add<ColorJitter>(0.2f, 0.2f, 0.2f, 0.05f);
  Generator box_rng = sample_generator(9, 0, 3), apply_rng = sample_generator(9, 0, 3);
  const Box box = *compose.leading_box(image.width, image.height, box_rng);
  EXPECT_TRUE(images_near(compose.apply_to_leading_box(crop(image, box.top, box.left, box.height, box.width), box_rng),
                          compose.apply(image, apply_rng), 0));
  EXPECT_FALSE(Compose().leading_box(61, 47, rng));
}

TEST(RandomTransforms, FlipProbability) {
  const Image image = edat::testing::synthetic_image(6, 4);
  int flips = 0;
  for (std::uint64_t i = 0; i < 1000; ++i) {
    Generator rng = sample_generator(0, 0, i);
    if (RandomHorizontalFlip(0.5f).apply(image, rng).pixels != image.pixels) ++flips;
  }
  EXPECT_GT(flips, 430);
  EXPECT_LT(flips, 570);
  Generator rng(1);
  EXPECT_EQ(RandomHorizontalFlip(0.0f).apply(image, rng).pixels, image.pixels);
}

TEST(RandomTransforms, ColorJitterUsesARandomOrderOfTheAdjustments) {
  // With brightness and contrast on, the result is one of the two orders, with factors from the documented draws:
  // randperm(4) (3 draws), then one factor per enabled adjustment.
  const ColorJitter jitter(0.5f, 0.5f, 0.0f, 0.0f);
  std::set<std::string> orders;
  for (std::uint64_t i = 0; i < 40; ++i) {
    Generator rng = sample_generator(11, 0, i);
    Generator replay = rng;
    for (int k = 0; k < 3; ++k) replay.next_unit();
    const double b = 0.5 + replay.next_unit(), c = 0.5 + replay.next_unit();
    const Image out = jitter.apply(card(), rng);
    const Image bc = adjust_contrast(adjust_brightness(card(), b), c);
    const Image cb = adjust_brightness(adjust_contrast(card(), c), b);
    if (out.pixels == bc.pixels)
      orders.insert("bc");
    else if (out.pixels == cb.pixels)
      orders.insert("cb");
    else
      ADD_FAILURE() << "sample " << i << " matches neither order";
  }
  EXPECT_EQ(orders.size(), 2u);
  Generator rng(5);
  EXPECT_EQ(ColorJitter(0, 0, 0, 0).apply(card(), rng).pixels, card().pixels);
  EXPECT_TRUE(throws_with([] { ColorJitter(0, 0, 0, 0.7f); }, {"hue", "0.7"}));
}

TEST(RandomTransforms, ColorJitterEqualsTheSingleAdjustmentsInItsOrder) {
  // ColorJitter's draws replayed (randperm(4) by Fisher-Yates, then one factor per enabled adjustment), applied one
  // adjustment at a time, for many samples: all orders occur.
  const std::vector<Image> images = colour_test_images();
  const float amounts[3][4] = {{0.2f, 0.2f, 0.2f, 0.05f}, {0.9f, 0.0f, 0.5f, 0.5f}, {0.0f, 0.7f, 0.0f, 0.0f}};
  std::set<std::string> orders;
  for (int j = 0; j < 3; ++j) {
    for (std::uint64_t i = 0; i < 300; ++i) {
      Generator rng = sample_generator(3, 0, i), replay = rng;
      int order[4] = {0, 1, 2, 3};
      for (int n = 3; n > 0; --n) {
        const int pick = std::min(n, static_cast<int>(replay.next_unit() * (n + 1)));
        std::swap(order[n], order[pick]);
      }
      double factors[4];
      for (int k = 0; k < 4; ++k) {  // the ranges as ColorJitter keeps them, in float
        const float a = amounts[j][k], low = k == 3 ? -a : std::max(0.0f, 1.0f - a), high = k == 3 ? a : 1.0f + a;
        if (a > 0) factors[k] = low + (static_cast<double>(high) - low) * replay.next_unit();
      }
      std::vector<ColourAdjustment> adjustments;
      std::string text;
      for (int k : order) {
        if (amounts[j][k] > 0) adjustments.push_back({static_cast<ColourAdjustment::Kind>(k), factors[k]});
        text += std::to_string(k);
      }
      orders.insert(text);
      const Image& image = images[i % images.size()];
      const ColorJitter jitter(amounts[j][0], amounts[j][1], amounts[j][2], amounts[j][3]);
      EXPECT_EQ(jitter.apply(image, rng).pixels, adjust_sequentially(image, adjustments).pixels)
          << "jitter " << j << ", sample " << i << ", order " << text;
    }
  }
  EXPECT_EQ(orders.size(), 24u);
}

TEST(RandomTransforms, ComposeAndDecodeHint) {
  Compose pipeline;
  pipeline.add<Resize>(64).add<RandomCrop>(56, 56).add<RandomHorizontalFlip>().add<ColorJitter>(0.2f, 0.2f, 0.2f,
                                                                                                0.05f);
  EXPECT_EQ(pipeline.decode_hint().min_width, 64);
  EXPECT_NE(pipeline.describe().find("Resize(64) -> RandomCrop(56)"), std::string::npos) << pipeline.describe();
  const Image image = edat::testing::synthetic_image(100, 80);
  Generator a = sample_generator(1, 0, 5), b = sample_generator(1, 0, 5);
  const Image x = pipeline.apply(image, a), y = pipeline.apply(image, b);
  EXPECT_EQ(x.width, 56);
  EXPECT_EQ(x.pixels, y.pixels);
  Compose crop_first;
  crop_first.add<CenterCrop>(10, 10).add<Resize>(5);
  EXPECT_EQ(crop_first.decode_hint().min_width, 0);  // only a leading resize allows DCT scaling
}

}  // namespace
}  // namespace edat::data
