// Decoding one box of an image (decode_image_box): the box's pixels must equal the same box of the whole decode,
// bit for bit, for every chroma subsampling libjpeg-turbo writes, progressive files, CMYK, DCT scaling, fast
// upsampling, boxes at every edge, real faces from ../shared (skipped when absent); and bad input.
#include <gtest/gtest.h>
#include <turbojpeg.h>

#include <cstdlib>
#include <filesystem>

#include "data/decode.h"
#include "data/encode.h"
#include "data/transforms.h"
#include "data_test_util.h"
#include "test_util.h"

namespace edat::data {
namespace {

using edat::testing::images_near;
using edat::testing::TempDir;
using edat::testing::throws_with;

// pixel_format TJPF_RGB (3 bytes per pixel), TJPF_GRAY (1) or TJPF_CMYK (4); flags e.g. TJFLAG_PROGRESSIVE.
std::vector<std::uint8_t> compress(const std::vector<std::uint8_t>& pixels, int width, int height, int pixel_format,
                                   int subsampling, int flags = 0) {
  tjhandle tj = tjInitCompress();
  unsigned char* jpeg = nullptr;
  unsigned long size = 0;
  const int status =
      tjCompress2(tj, pixels.data(), width, 0, height, pixel_format, &jpeg, &size, subsampling, 90, flags);
  EXPECT_EQ(status, 0) << tjGetErrorStr2(tj);
  std::vector<std::uint8_t> bytes(jpeg, jpeg + size);
  tjFree(jpeg);
  tjDestroy(tj);
  return bytes;
}

// The boxes checked on a width x height image: the whole image, single pixels and strips at every corner and
// edge, and seeded random boxes.
std::vector<Box> boxes_for(int width, int height, std::uint64_t seed) {
  std::vector<Box> boxes = {{0, 0, height, width},         {0, 0, 1, 1},
                            {height - 1, width - 1, 1, 1}, {0, width - 1, height, 1},
                            {height - 1, 0, 1, width},     {height / 3, width / 3, (height + 1) / 2, (width + 1) / 2}};
  Generator rng(seed);
  for (int k = 0; k < 24; ++k) {
    const int h = 1 + static_cast<int>(rng.next_unit() * height), w = 1 + static_cast<int>(rng.next_unit() * width);
    const int top = static_cast<int>(rng.next_unit() * (height - h + 1));
    const int left = static_cast<int>(rng.next_unit() * (width - w + 1));
    boxes.push_back({top, left, h, w});
  }
  return boxes;
}

// Every box of boxes_for equals the same crop of the whole decode, with these options.
void expect_boxes_match(const std::vector<std::uint8_t>& bytes, const DecodeOptions& options, std::uint64_t seed) {
  const Image whole = decode_image(bytes, options);
  for (const Box& box : boxes_for(whole.width, whole.height, seed)) {
    SCOPED_TRACE(::testing::Message() << "box " << box.width << "x" << box.height << " at (" << box.left << ", "
                                      << box.top << ") of " << whole.width << "x" << whole.height);
    int seen_width = 0, seen_height = 0;
    const Image part = decode_image_box(
        bytes.data(), bytes.size(),
        [&](int w, int h) {
          seen_width = w, seen_height = h;
          return std::optional<Box>(box);
        },
        options);
    EXPECT_EQ(seen_width, whole.width);  // the chooser sees the decoded (scaled) size
    EXPECT_EQ(seen_height, whole.height);
    ASSERT_TRUE(images_near(part, crop(whole, box.top, box.left, box.height, box.width), 0));
  }
}

struct Layout {
  const char* name;
  int pixel_format, subsampling, flags;
  const char* restart_rows = nullptr;  // TurboJPEG's TJ_RESTART: a restart marker every this many MCU rows
};

TEST(DecodeBox, EqualsTheWholeDecodeForEveryLayout) {
  const Layout layouts[] = {{"4:4:4", TJPF_RGB, TJSAMP_444, 0},
                            {"4:2:2", TJPF_RGB, TJSAMP_422, 0},
                            {"4:2:0", TJPF_RGB, TJSAMP_420, 0},
                            {"4:4:0", TJPF_RGB, TJSAMP_440, 0},
                            {"4:1:1", TJPF_RGB, TJSAMP_411, 0},
                            {"gray", TJPF_GRAY, TJSAMP_GRAY, 0},
                            {"4:2:0 progressive", TJPF_RGB, TJSAMP_420, TJFLAG_PROGRESSIVE},
                            {"4:2:2 progressive", TJPF_RGB, TJSAMP_422, TJFLAG_PROGRESSIVE},
                            {"4:2:0 with restart markers", TJPF_RGB, TJSAMP_420, 0, "1"}};
  const std::pair<int, int> sizes[] = {{200, 200}, {97, 61}, {33, 130}, {7, 5}};
  std::uint64_t seed = 1;
  for (const Layout& layout : layouts) {
    for (const auto& [width, height] : sizes) {
      SCOPED_TRACE(::testing::Message() << layout.name << ", " << width << "x" << height);
      const Image rgb = edat::testing::synthetic_image(width, height, seed);
      std::vector<std::uint8_t> pixels = rgb.pixels;
      if (layout.pixel_format == TJPF_GRAY) {
        pixels.resize(static_cast<std::size_t>(width) * height);
        for (std::size_t i = 0; i < pixels.size(); ++i) pixels[i] = rgb.pixels[3 * i + 1];
      }
      if (layout.restart_rows) setenv("TJ_RESTART", layout.restart_rows, 1);
      const auto bytes = compress(pixels, width, height, layout.pixel_format, layout.subsampling, layout.flags);
      unsetenv("TJ_RESTART");
      expect_boxes_match(bytes, {}, ++seed);
      expect_boxes_match(bytes, {.fast_upsampling = true}, ++seed);
      expect_boxes_match(bytes, {.min_width = (width + 3) / 4, .min_height = (height + 3) / 4}, ++seed);
    }
  }
}

TEST(DecodeBox, CmykEqualsTheWholeDecode) {
  const int width = 45, height = 38;
  std::vector<std::uint8_t> cmyk(static_cast<std::size_t>(width) * height * 4);
  Generator rng(7);
  for (auto& v : cmyk) v = static_cast<std::uint8_t>(rng.next_unit() * 256);
  expect_boxes_match(compress(cmyk, width, height, TJPF_CMYK, TJSAMP_444), {}, 3);
}

TEST(DecodeBox, OtherFormatsAreCroppedAfterDecoding) {
  const Image image = edat::testing::synthetic_image(31, 17, 5);
  expect_boxes_match(encode_png(image), {}, 4);
  // No box: the whole image.
  const auto png = encode_png(image);
  const Image whole = decode_image_box(png.data(), png.size(), [](int, int) { return std::optional<Box>(); });
  EXPECT_TRUE(images_near(whole, image, 0));
  const auto jpeg = encode_jpeg(image);
  const Image whole_jpeg = decode_image_box(jpeg.data(), jpeg.size(), [](int, int) { return std::optional<Box>(); });
  EXPECT_TRUE(images_near(whole_jpeg, decode_image(jpeg), 0));
}

TEST(DecodeBox, TransformsNameTheirBox) {
  // What the loader does: the first transform chooses the box from the size; the rest follows on its pixels.
  const auto jpeg = encode_jpeg(edat::testing::synthetic_image(90, 70, 9));
  const RandomCrop crop(48, 40);
  for (std::uint64_t i = 0; i < 20; ++i) {
    Generator box_rng = sample_generator(1, 0, i), whole_rng = sample_generator(1, 0, i);
    const Image part =
        decode_image_box(jpeg.data(), jpeg.size(), [&](int w, int h) { return crop.input_box(w, h, box_rng); });
    EXPECT_TRUE(images_near(part, crop.apply(decode_image(jpeg), whole_rng), 0));
    EXPECT_EQ(box_rng.offset(), whole_rng.offset());
  }
}

TEST(DecodeBoxBadInput, ClearErrors) {
  const auto jpeg = encode_jpeg(edat::testing::synthetic_image(64, 64), 95);
  const auto top_box = [](int, int) { return std::optional<Box>(Box{0, 0, 8, 8}); };
  auto decode = [&](std::vector<std::uint8_t> bytes, const std::string& name, DecodeOptions options = {}) {
    return [=] { decode_image_box(bytes.data(), bytes.size(), top_box, options, name); };
  };
  // Cut short after two thirds: the box at the top is decoded fine, but the missing end is still noticed.
  const std::vector<std::uint8_t> truncated(jpeg.begin(), jpeg.begin() + jpeg.size() * 2 / 3);
  EXPECT_TRUE(throws_with(decode(truncated, "truncated.jpg"), {"truncated.jpg", "corrupt or truncated JPEG"}));
  EXPECT_THROW(decode(truncated, "truncated.jpg")(), DecodeError);
  EXPECT_NO_THROW(decode(truncated, "truncated.jpg", {.accept_jpeg_warnings = true})());
  EXPECT_TRUE(throws_with(decode({jpeg.begin(), jpeg.begin() + 200}, "header_only.jpg"),
                          {"header_only.jpg", "bad JPEG header"}));
  EXPECT_TRUE(throws_with(decode({}, "empty.jpg"), {"empty.jpg", "empty"}));
  const std::string text = "not an image";
  EXPECT_TRUE(throws_with(decode({text.begin(), text.end()}, "text.jpg"), {"text.jpg", "not a known image format"}));
  // Above the pixel limit a JPEG decodes at the DCT scale that fits it (1/8: 8x8 for 100 pixels); refused only
  // when even 1/8 is too large.
  EXPECT_NO_THROW(decode(jpeg, "big.jpg", {.max_pixels = 100})());
  EXPECT_TRUE(throws_with(decode(jpeg, "big.jpg", {.max_pixels = 50}),
                          {"big.jpg", "more than the limit of 50 pixels even decoded at 1/8 scale"}));
  // Garbage in the tables: libjpeg's error comes back as a DecodeError, and the next decode works.
  std::vector<std::uint8_t> garbage = jpeg;
  for (std::size_t i = 4; i < 300; ++i) garbage[i] = static_cast<std::uint8_t>(i * 37);
  EXPECT_TRUE(throws_with(decode(garbage, "garbage.jpg"), {"garbage.jpg", "bad JPEG header ("}));
  EXPECT_THROW(decode(garbage, "garbage.jpg")(), DecodeError);
  EXPECT_TRUE(
      images_near(decode_image_box(jpeg.data(), jpeg.size(), top_box), crop(decode_image(jpeg), 0, 0, 8, 8), 0));
  // A box outside the image is the caller's bug: edat::Error, not a DecodeError the loader would skip.
  for (const auto& bytes : {jpeg, encode_png(edat::testing::synthetic_image(64, 64))}) {
    const auto outside = [](int w, int h) { return std::optional<Box>(Box{h - 4, w - 4, 8, 8}); };
    try {
      decode_image_box(bytes.data(), bytes.size(), outside, {}, "small.jpg");
      ADD_FAILURE() << "no error for a box outside the image";
    } catch (const DecodeError& e) {
      ADD_FAILURE() << "a DecodeError: " << e.what();
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("is not inside small.jpg (64x64)"), std::string::npos) << e.what();
    }
  }
}

// ---- real images (../shared, skipped when absent) ----

void expect_real_boxes_match(const std::filesystem::path& dir, std::size_t count) {
  if (!std::filesystem::is_directory(dir)) GTEST_SKIP() << dir << " is absent";
  std::size_t seen = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (seen == count) break;
    if (entry.path().extension() != ".jpg") continue;
    SCOPED_TRACE(entry.path().string());
    expect_boxes_match(read_file_bytes(entry.path().string()), {}, ++seen);
  }
  EXPECT_GT(seen, 0u);
}

TEST(DecodeBoxShared, UtkFaceImages) {
  expect_real_boxes_match(std::string(EDAT_SHARED_DIR) + "/data/utkface/images", 150);
}

TEST(DecodeBoxShared, FacePhotos) { expect_real_boxes_match(std::string(EDAT_SHARED_DIR) + "/data/faces", 20); }

}  // namespace
}  // namespace edat::data
