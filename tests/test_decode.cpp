// Decoding: JPEG (TurboJPEG, DCT scaling, gray, CMYK), PNG/BMP (stb_image), against PIL's decodes of the same files
// (tests/fixtures/data, scripts/fixtures_data.py), round trips of generated images, and bad input.
#include <gtest/gtest.h>
#include <turbojpeg.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "data/decode.h"
#include "data/encode.h"
#include "data_test_util.h"
#include "test_util.h"

namespace edat::data {
namespace {

using edat::testing::images_near;
using edat::testing::TempDir;

const std::string kFixtures = EDAT_DATA_FIXTURES;
const std::string kShared = EDAT_SHARED_DIR;

const std::map<std::string, Tensor>& decode_fixtures() {
  static const auto fixtures = edat::testing::load_fixture(kFixtures + "/decode.safetensors");
  return fixtures;
}

Image expected(const std::string& name) {
  return edat::testing::image_from_hwc(decode_fixtures().at("decode/" + name));
}

TEST(Decode, JpegMatchesPil) {
  // PIL decodes through libjpeg-turbo with the accurate IDCT and fancy upsampling, as edat does: identical or
  // within 1 where the library versions round differently.
  for (const char* name : {"photo_420.jpg", "photo_444.jpg", "photo_progressive.jpg", "gray.jpg"}) {
    SCOPED_TRACE(name);
    const Image image = decode_image_file(kFixtures + "/images/" + name);
    EXPECT_TRUE(images_near(image, expected(name), 1));
  }
}

TEST(Decode, GrayJpegBecomesRgb) {
  const Image image = decode_image_file(kFixtures + "/images/gray.jpg");
  for (std::size_t i = 0; i < image.pixels.size(); i += 3) {
    ASSERT_EQ(image.pixels[i], image.pixels[i + 1]);
    ASSERT_EQ(image.pixels[i], image.pixels[i + 2]);
  }
}

TEST(Decode, PngMatchesPil) {
  for (const char* name : {"rgba.png", "gray.png"}) {  // RGBA drops alpha; gray is replicated
    SCOPED_TRACE(name);
    EXPECT_TRUE(images_near(decode_image_file(kFixtures + "/images/" + name), expected(name), 0));
  }
}

TEST(Decode, DctScalingMatchesPilDraft) {
  // A target of at most half the source decodes at 1/2 in the DCT domain (PIL's draft mode does the same).
  const Image half = decode_image_file(kFixtures + "/images/photo_420.jpg", {.min_width = 24, .min_height = 16});
  EXPECT_TRUE(images_near(half, expected("photo_420.jpg_half"), 1));
}

TEST(Decode, FastUpsamplingIsClose) {
  // Nearest-neighbour chroma upsampling: same size, close to PIL's smooth upsampling, differing at colour edges.
  const Image fast = decode_image_file(kFixtures + "/images/photo_420.jpg", {.fast_upsampling = true});
  const Image pil = expected("photo_420.jpg");
  ASSERT_EQ(fast.width, pil.width);
  ASSERT_EQ(fast.height, pil.height);
  double total = 0;
  for (std::size_t i = 0; i < fast.pixels.size(); ++i) total += std::abs(int(fast.pixels[i]) - int(pil.pixels[i]));
  EXPECT_LT(total / static_cast<double>(fast.pixels.size()), 6.0);  // 3.1 here: a sharp red block
  EXPECT_NE(fast.pixels, pil.pixels);
}

TEST(Decode, DctScaleChoice) {
  const auto bytes = read_file_bytes(kFixtures + "/images/photo_420.jpg");  // 48x32
  auto scaled = [&](int w, int h) {
    const JpegInfo info = jpeg_info(bytes.data(), bytes.size(), {.min_width = w, .min_height = h});
    return std::array<int, 3>{info.scaled_width, info.scaled_height, info.scale_denominator};
  };
  EXPECT_EQ(scaled(0, 0), (std::array<int, 3>{48, 32, 1}));
  EXPECT_EQ(scaled(25, 0), (std::array<int, 3>{48, 32, 1}));  // more than half: full size
  EXPECT_EQ(scaled(24, 16), (std::array<int, 3>{24, 16, 2}));
  EXPECT_EQ(scaled(13, 1), (std::array<int, 3>{24, 16, 2}));
  EXPECT_EQ(scaled(12, 8), (std::array<int, 3>{12, 8, 4}));
  EXPECT_EQ(scaled(1, 4), (std::array<int, 3>{6, 4, 8}));
  EXPECT_EQ(scaled(1, 5), (std::array<int, 3>{12, 8, 4}));
  EXPECT_EQ(scaled(0, 9), (std::array<int, 3>{24, 16, 2}));
  // The decoded image has the announced size.
  const Image eighth = decode_image(bytes, {.min_width = 6, .min_height = 4});
  EXPECT_EQ(eighth.width, 6);
  EXPECT_EQ(eighth.height, 4);
}

TEST(Decode, PngAndBmpRoundTrip) {
  const Image image = edat::testing::synthetic_image(23, 17);
  EXPECT_TRUE(images_near(decode_image(encode_png(image)), image, 0));
  TempDir dir("decode");
  write_image(dir.file("a.bmp"), image);
  write_image(dir.file("a.PNG"), image);
  EXPECT_TRUE(images_near(decode_image_file(dir.file("a.bmp")), image, 0));
  EXPECT_TRUE(images_near(decode_image_file(dir.file("a.PNG")), image, 0));
  EXPECT_EQ(sniff_format(encode_png(image).data(), 8), ImageFormat::png);
}

TEST(Decode, JpegRoundTripIsClose) {
  const Image image = edat::testing::synthetic_image(64, 40);
  const Image decoded = decode_image(encode_jpeg(image, 100, false));
  EXPECT_TRUE(images_near(decoded, image, 6));
  // The format comes from the bytes, not the name.
  TempDir dir("decode");
  write_file_bytes(dir.file("really_a_jpeg.png"), encode_jpeg(image, 90));
  EXPECT_EQ(decode_image_file(dir.file("really_a_jpeg.png")).width, 64);
}

TEST(Decode, CmykJpegBecomesRgb) {
  // Encode four flat CMYK patches with TurboJPEG (Adobe inverted convention: 255 = no ink); R = C * K / 255.
  const int w = 32, h = 16;
  const std::uint8_t patches[4][4] = {{255, 255, 255, 255}, {255, 0, 255, 255}, {200, 150, 100, 128}, {0, 0, 0, 0}};
  std::vector<std::uint8_t> cmyk(static_cast<std::size_t>(w) * h * 4);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) std::copy_n(patches[x / 8], 4, &cmyk[(static_cast<std::size_t>(y) * w + x) * 4]);
  }
  tjhandle tj = tjInitCompress();
  unsigned char* jpeg = nullptr;
  unsigned long size = 0;
  ASSERT_EQ(tjCompress2(tj, cmyk.data(), w, 0, h, TJPF_CMYK, &jpeg, &size, TJSAMP_444, 100, 0), 0)
      << tjGetErrorStr2(tj);
  const std::vector<std::uint8_t> bytes(jpeg, jpeg + size);
  tjFree(jpeg);
  tjDestroy(tj);
  const Image image = decode_image(bytes);
  ASSERT_EQ(image.width, w);
  for (int p = 0; p < 4; ++p) {
    for (int c = 0; c < 3; ++c) {
      const int want = patches[p][c] * patches[p][3] / 255;
      EXPECT_NEAR(image.at(8, 8 * p + 4, c), want, 3) << "patch " << p << " channel " << c;
    }
  }
}

TEST(Decode, ThreadSafe) {
  const auto bytes = read_file_bytes(kFixtures + "/images/photo_420.jpg");
  const auto png = encode_png(edat::testing::synthetic_image(30, 20));
  const Image want_jpeg = decode_image(bytes), want_png = decode_image(png);
  std::vector<std::thread> threads;
  std::atomic<int> mismatches{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        if (decode_image(bytes).pixels != want_jpeg.pixels) ++mismatches;
        if (decode_image(png).pixels != want_png.pixels) ++mismatches;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(mismatches.load(), 0);
}

// ---- bad input: a clear DecodeError naming the file, never a crash ----

TEST(DecodeBadInput, ClearErrors) {
  using edat::testing::throws_with;
  TempDir dir("decode_bad");
  const auto jpeg = encode_jpeg(edat::testing::synthetic_image(64, 64), 95);  // ~5 KB: its headers are ~600 bytes
  const auto png = read_file_bytes(kFixtures + "/images/rgba.png");
  write_file_bytes(dir.file("empty.jpg"), {});
  write_file_bytes(dir.file("truncated.jpg"),
                   std::vector<std::uint8_t>(jpeg.begin(), jpeg.begin() + jpeg.size() * 2 / 3));
  write_file_bytes(dir.file("header_only.jpg"), std::vector<std::uint8_t>(jpeg.begin(), jpeg.begin() + 200));
  write_file_bytes(dir.file("truncated.png"), std::vector<std::uint8_t>(png.begin(), png.begin() + png.size() / 2));
  const std::string text = "this is not an image\n";
  write_file_bytes(dir.file("text.jpg"), std::vector<std::uint8_t>(text.begin(), text.end()));

  auto decode = [&](const std::string& name) { return [&, name] { decode_image_file(dir.file(name)); }; };
  EXPECT_TRUE(throws_with(decode("empty.jpg"), {"empty.jpg", "empty"}));
  EXPECT_TRUE(throws_with(decode("truncated.jpg"), {"truncated.jpg", "corrupt or truncated JPEG"}));
  EXPECT_TRUE(throws_with(decode("header_only.jpg"), {"header_only.jpg", "bad JPEG header"}));
  EXPECT_TRUE(throws_with(decode("truncated.png"), {"truncated.png", "corrupt"}));
  EXPECT_TRUE(throws_with(decode("text.jpg"), {"text.jpg", "not a known image format"}));
  EXPECT_TRUE(throws_with(decode("missing.jpg"), {"missing.jpg", "cannot open"}));
  // All of these are DecodeErrors (which the loader counts and skips).
  EXPECT_THROW(decode_image_file(dir.file("text.jpg")), DecodeError);
  EXPECT_THROW(decode_image_file(dir.file("missing.jpg")), DecodeError);

  // A truncated JPEG decodes (bottom rows gray) when libjpeg's warnings are accepted.
  const Image partial = decode_image_file(dir.file("truncated.jpg"), {.accept_jpeg_warnings = true});
  EXPECT_EQ(partial.width, 64);
}

TEST(DecodeBadInput, HugeDimensionsRefused) {
  // A PNG header claiming 60000 x 60000 pixels is refused before any allocation (stb_image's own limit).
  std::vector<std::uint8_t> png = encode_png(edat::testing::synthetic_image(4, 4));
  auto put_be32 = [&](std::size_t at, std::uint32_t v) {
    for (int k = 0; k < 4; ++k) png[at + k] = static_cast<std::uint8_t>(v >> (24 - 8 * k));
  };
  put_be32(16, 60000), put_be32(20, 60000);  // IHDR width, height
  EXPECT_THROW(decode_image(png, {}, "huge.png"), DecodeError);
  // edat's limit (DecodeOptions::max_pixels), checked from the header alone, for both decoders.
  put_be32(16, 4), put_be32(20, 4);
  EXPECT_TRUE(edat::testing::throws_with([&] { decode_image(png, {.max_pixels = 10}, "small.png"); },
                                         {"small.png", "4x4", "more than the limit of 10 pixels"}));
  // A JPEG above the limit decodes at the weakest DCT scale under it; refused only when 1/8 is still too large.
  const auto jpeg = read_file_bytes(kFixtures + "/images/photo_420.jpg");  // 48x32
  EXPECT_TRUE(edat::testing::throws_with([&] { decode_image(jpeg, {.max_pixels = 20}, "small.jpg"); },
                                         {"small.jpg", "48x32", "limit of 20 pixels even decoded at 1/8 scale"}));
  const Image half = decode_image(jpeg, {.max_pixels = 400});
  EXPECT_EQ(half.width, 24);
  EXPECT_EQ(half.height, 16);
  const Image eighth = decode_image_box(
      jpeg.data(), jpeg.size(), [](int, int) { return std::optional<Box>(); }, {.max_pixels = 24});
  EXPECT_EQ(eighth.width, 6);
  EXPECT_EQ(eighth.height, 4);
}

TEST(DecodeBadInput, ImagesAboveTheDefaultLimitAreRefusedFromTheHeader) {
  // What a probe fed predict_age and the loader: a PNG header claiming 16384 x 16384 (4 GB once decoded and
  // transformed), and one 2^24 + 1 pixels wide (stb_image's limit, which it reported as "unknown image type").
  std::vector<std::uint8_t> png = encode_png(edat::testing::synthetic_image(4, 4));
  auto put_be32 = [&](std::size_t at, std::uint32_t v) {
    for (int k = 0; k < 4; ++k) png[at + k] = static_cast<std::uint8_t>(v >> (24 - 8 * k));
  };
  put_be32(16, 16384), put_be32(20, 16384);
  EXPECT_TRUE(edat::testing::throws_with([&] { decode_image(png, {}, "square.png"); },
                                         {"square.png", "16384x16384", "more than the limit of 67108864 pixels"}));
  put_be32(16, (1u << 24) + 1), put_be32(20, 1);
  EXPECT_TRUE(edat::testing::throws_with([&] { decode_image(png, {}, "wide.png"); },
                                         {"wide.png", "16777217x1, too large: more than 16777216 pixels on a side"}));
}

TEST(DecodeBadInput, FuzzerFindings) {
  // Inputs the decoder fuzzer (tests/fuzz/fuzz_decode.cpp) once broke the decoders with.
  // 1. A 16-bit PGM header without data: a heap overflow inside stb_image 2.27 (PNM is no longer enabled).
  const std::string pgm = "P54 283632 283632";
  EXPECT_TRUE(edat::testing::throws_with(
      [&] { decode_image(reinterpret_cast<const std::uint8_t*>(pgm.data()), pgm.size(), {}, "a.pgm"); },
      {"a.pgm", "not a known image format"}));
  // 2. A PNG whose IDAT chunk claims 2 GiB: stb_image allocated it before noticing the data is missing.
  std::vector<std::uint8_t> png = encode_png(edat::testing::synthetic_image(4, 4));
  const std::size_t idat = 33;  // signature (8) + IHDR chunk (25)
  ASSERT_EQ(std::string(png.begin() + idat + 4, png.begin() + idat + 8), "IDAT");
  png[idat] = 0x80, png[idat + 1] = png[idat + 2] = png[idat + 3] = 0;
  EXPECT_TRUE(edat::testing::throws_with([&] { decode_image(png, {}, "big_chunk.png"); },
                                         {"big_chunk.png", "chunk runs past the end"}));
  // 3. After a JPEG whose header parse failed, the next decode on the same thread still works (libjpeg-turbo 2.1
  //    leaves the handle mid-header; the decoder replaces it).
  const auto jpeg = read_file_bytes(kFixtures + "/images/photo_420.jpg");
  EXPECT_THROW(decode_image(jpeg.data(), jpeg.size() / 3), DecodeError);
  EXPECT_EQ(decode_image(jpeg).width, 48);
}

// ---- real images (../shared, skipped when absent) ----

TEST(DecodeShared, UtkFaceImages) {
  const std::filesystem::path dir = kShared + "/data/utkface/images";
  if (!std::filesystem::is_directory(dir)) GTEST_SKIP() << dir << " is absent";
  int count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (count == 200) break;
    const Image image = decode_image_file(entry.path().string());
    EXPECT_EQ(image.width, 200) << entry.path();
    EXPECT_EQ(image.height, 200) << entry.path();
    const Image quarter = decode_image_file(entry.path().string(), {.min_width = 50, .min_height = 50});
    EXPECT_EQ(quarter.width, 50) << entry.path();
    ++count;
  }
  EXPECT_EQ(count, 200);
}

TEST(DecodeShared, FacePhotos) {
  const std::filesystem::path dir = kShared + "/data/faces";
  if (!std::filesystem::is_directory(dir)) GTEST_SKIP() << dir << " is absent";
  int count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() != ".jpg") continue;
    const Image image = decode_image_file(entry.path().string());
    EXPECT_GT(image.width, 0);
    ++count;
  }
  EXPECT_GT(count, 0);
}

}  // namespace
}  // namespace edat::data
