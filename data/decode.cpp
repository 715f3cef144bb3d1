// Image decoding: TurboJPEG for JPEG (with DCT-domain scaling), stb_image for everything else. See decode.h.
#include "data/decode.h"

#include <stb_image.h>
#include <turbojpeg.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "data/decode_internal.h"

namespace edat::data {
namespace {

using detail::check_size;
using detail::choose_scale;
using detail::cmyk_to_rgb;
using detail::fail;

// One TurboJPEG decompressor per thread: creating one costs a few allocations, and a handle is not thread-safe.
// After a failure the handle is replaced: libjpeg-turbo 2.1 leaves a handle whose header parse failed in a state
// that corrupts the next call (tjDecompressHeader3 then reads the new file as the continuation of the old one).
class ThreadDecompressor {
 public:
  static tjhandle get() {
    tjhandle& h = slot().handle;
    if (!h) h = tjInitDecompress();
    EDAT_CHECK(h, "decode: cannot create a TurboJPEG decompressor: " << tjGetErrorStr2(nullptr));
    return h;
  }
  static void reset() {
    tjhandle& h = slot().handle;
    if (h) tjDestroy(h);
    h = nullptr;
  }

 private:
  struct Slot {
    tjhandle handle = nullptr;
    ~Slot() {
      if (handle) tjDestroy(handle);
    }
  };
  static Slot& slot() {
    thread_local Slot s;
    return s;
  }
};

JpegInfo read_jpeg_header(tjhandle tj, const std::uint8_t* data, std::size_t size, const DecodeOptions& options,
                          const std::string& name, int* colorspace) {
  int width = 0, height = 0, subsampling = 0;
  if (tjDecompressHeader3(tj, data, static_cast<unsigned long>(size), &width, &height, &subsampling, colorspace) != 0) {
    const std::string why = tjGetErrorStr2(tj);
    ThreadDecompressor::reset();
    fail(name, "bad JPEG header (" + why + ")");
  }
  if (width <= 0 || height <= 0) {  // the data ended inside the header: libjpeg saw tables but no frame
    ThreadDecompressor::reset();
    fail(name, "bad JPEG header (no image frame: the file is truncated)");
  }
  return detail::checked_jpeg_scale(width, height, options, name);
}

Image decode_jpeg(const std::uint8_t* data, std::size_t size, const DecodeOptions& options, const std::string& name) {
  tjhandle tj = ThreadDecompressor::get();
  int colorspace = 0;
  const JpegInfo info = read_jpeg_header(tj, data, size, options, name, &colorspace);
  // Accurate integer IDCT (libjpeg's default, as PIL and torchvision.io decode); progressive scans capped at 500
  // so a hostile file cannot take minutes.
  const int flags = TJFLAG_ACCURATEDCT | TJFLAG_LIMITSCANS | (options.fast_upsampling ? TJFLAG_FASTUPSAMPLE : 0);
  const bool cmyk = colorspace == TJCS_CMYK || colorspace == TJCS_YCCK;
  Image image(info.scaled_width, info.scaled_height);
  std::vector<std::uint8_t> cmyk_pixels;
  std::uint8_t* out = image.pixels.data();
  if (cmyk) {  // TurboJPEG cannot convert CMYK to RGB itself: decode the four channels, then convert below
    cmyk_pixels.resize(static_cast<std::size_t>(info.scaled_width) * info.scaled_height * 4);
    out = cmyk_pixels.data();
  }
  // Gray and YCbCr JPEGs decode straight to RGB (libjpeg replicates gray into the three channels).
  if (tjDecompress2(tj, data, static_cast<unsigned long>(size), out, info.scaled_width, 0, info.scaled_height,
                    cmyk ? TJPF_CMYK : TJPF_RGB, flags) != 0) {
    const bool warning = tjGetErrorCode(tj) == TJERR_WARNING;
    const std::string why = tjGetErrorStr2(tj);
    ThreadDecompressor::reset();
    if (!warning || !options.accept_jpeg_warnings) {
      fail(name, std::string(warning ? "corrupt or truncated JPEG data (" : "bad JPEG data (") + why + ")");
    }
  }
  if (cmyk) cmyk_to_rgb(cmyk_pixels.data(), image.pixels.size() / 3, image.pixels.data());
  return image;
}

std::uint32_t read_be32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
}

// stb_image grows its buffer to a PNG chunk's declared length before reading the chunk, so a corrupt length makes
// it allocate up to 2 GiB; refuse chunks that claim more bytes than the file has left.
void check_png_chunks(const std::uint8_t* data, std::size_t size, const std::string& name) {
  std::size_t pos = 8;  // after the signature
  while (pos + 8 <= size) {
    const std::uint32_t length = read_be32(data + pos);
    if (length > size - pos - 8) fail(name, "corrupt or truncated PNG (a chunk runs past the end of the file)");
    if (std::memcmp(data + pos + 4, "IEND", 4) == 0) return;
    pos += std::size_t{length} + 12;  // length, type, data, CRC
  }
}

Image decode_with_stb(const std::uint8_t* data, std::size_t size, const DecodeOptions& options,
                      const std::string& name) {
  if (sniff_format(data, size) == ImageFormat::png) {
    check_png_chunks(data, size, name);
    // The size from the IHDR chunk: stb_image refuses a side above 2^24 but then reports "unknown image type".
    if (size >= 24) {
      const std::int64_t width = read_be32(data + 16), height = read_be32(data + 20);
      if (width > max_side || height > max_side) {
        fail(name, "it is " + std::to_string(width) + "x" + std::to_string(height) + ", too large: more than " +
                       std::to_string(max_side) + " pixels on a side");
      }
      check_size(width, height, options, name);
    }
  }
  EDAT_CHECK(size <= static_cast<std::size_t>(INT32_MAX), "decode: " << name << " is larger than 2 GiB");
  const int length = static_cast<int>(size);
  int width = 0, height = 0, channels = 0;
  if (!stbi_info_from_memory(data, length, &width, &height, &channels)) {
    fail(name, std::string("not a known image format (") + stbi_failure_reason() + ")");
  }
  check_size(width, height, options, name);
  std::unique_ptr<stbi_uc, void (*)(void*)> pixels(stbi_load_from_memory(data, length, &width, &height, &channels, 3),
                                                   stbi_image_free);
  if (!pixels) fail(name, std::string("corrupt image data (") + stbi_failure_reason() + ")");
  Image image(width, height);
  std::memcpy(image.pixels.data(), pixels.get(), image.pixels.size());
  return image;
}

}  // namespace

namespace detail {

void fail(const std::string& name, const std::string& why) {
  throw DecodeError("cannot decode image " + name + ": " + why);
}

void check_size(std::int64_t width, std::int64_t height, const DecodeOptions& options, const std::string& name) {
  if (width <= 0 || height <= 0) fail(name, "the header gives an empty size");
  if (width * height > options.max_pixels) {
    fail(name, "it is " + std::to_string(width) + "x" + std::to_string(height) + ", more than the limit of " +
                   std::to_string(options.max_pixels) + " pixels");
  }
}

JpegInfo choose_scale(int width, int height, const DecodeOptions& options) {
  JpegInfo info{width, height, width, height, 1};
  auto scale_by = [&](int denom) {
    info.scaled_width = (width + denom - 1) / denom, info.scaled_height = (height + denom - 1) / denom;
    info.scale_denominator = denom;
  };
  if (options.min_width > 0 || options.min_height > 0) {
    for (int denom : {8, 4, 2}) {
      const int w = (width + denom - 1) / denom, h = (height + denom - 1) / denom;
      if (w >= options.min_width && h >= options.min_height) {
        scale_by(denom);
        break;
      }
    }
  }
  // Too many pixels even so: the weakest stronger factor under the limit (1/8 when none is: then refused).
  for (int denom : {2, 4, 8}) {
    if (std::int64_t{info.scaled_width} * info.scaled_height <= options.max_pixels) break;
    if (denom > info.scale_denominator) scale_by(denom);
  }
  return info;
}

JpegInfo checked_jpeg_scale(std::int64_t width, std::int64_t height, const DecodeOptions& options,
                            const std::string& name) {
  if (width <= 0 || height <= 0) fail(name, "the header gives an empty size");
  const JpegInfo info = choose_scale(static_cast<int>(width), static_cast<int>(height), options);
  if (std::int64_t{info.scaled_width} * info.scaled_height > options.max_pixels) {
    fail(name, "it is " + std::to_string(width) + "x" + std::to_string(height) + ", more than the limit of " +
                   std::to_string(options.max_pixels) + " pixels even decoded at 1/8 scale");
  }
  return info;
}

void cmyk_to_rgb(const std::uint8_t* cmyk, std::size_t pixels, std::uint8_t* rgb) {
  // libjpeg returns Adobe-style inverted CMYK (255 = no ink), so R = C * K / 255 (libjpeg-turbo's cmyk.h).
  for (std::size_t i = 0; i < pixels; ++i) {
    const std::uint8_t* p = cmyk + 4 * i;
    for (int c = 0; c < 3; ++c) rgb[3 * i + c] = static_cast<std::uint8_t>((p[c] * p[3] + 127) / 255);
  }
}

}  // namespace detail

ImageFormat sniff_format(const std::uint8_t* data, std::size_t size) {
  auto starts_with = [&](std::initializer_list<std::uint8_t> magic) {
    return size >= magic.size() && std::equal(magic.begin(), magic.end(), data);
  };
  if (starts_with({0xFF, 0xD8, 0xFF})) return ImageFormat::jpeg;
  if (starts_with({0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A})) return ImageFormat::png;
  if (starts_with({'B', 'M'})) return ImageFormat::bmp;
  if (starts_with({'G', 'I', 'F', '8'})) return ImageFormat::gif;
  return size == 0 ? ImageFormat::unknown : ImageFormat::other;
}

Image decode_image(const std::uint8_t* data, std::size_t size, const DecodeOptions& options, const std::string& name) {
  if (size == 0) fail(name, "the file is empty");
  if (sniff_format(data, size) == ImageFormat::jpeg) return decode_jpeg(data, size, options, name);
  return decode_with_stb(data, size, options, name);
}

Image decode_image(const std::vector<std::uint8_t>& bytes, const DecodeOptions& options, const std::string& name) {
  return decode_image(bytes.data(), bytes.size(), options, name);
}

std::vector<std::uint8_t> read_file_bytes(const std::string& path) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"), std::fclose);
  if (!file) throw DecodeError("cannot open image " + path + ": " + std::strerror(errno));
  // One read of the whole file when its size is known (regular files); pipes and the like are read in chunks.
  std::vector<std::uint8_t> bytes;
  if (std::fseek(file.get(), 0, SEEK_END) == 0) {
    const long size = std::ftell(file.get());
    if (size > 0) bytes.reserve(static_cast<std::size_t>(size));
    std::rewind(file.get());
  }
  std::uint8_t buffer[1 << 16];
  for (std::size_t n; (n = std::fread(buffer, 1, sizeof buffer, file.get())) > 0;) {
    bytes.insert(bytes.end(), buffer, buffer + n);
  }
  if (std::ferror(file.get())) throw DecodeError("cannot read image " + path + ": " + std::strerror(errno));
  return bytes;
}

Image decode_image_file(const std::string& path, const DecodeOptions& options) {
  const std::vector<std::uint8_t> bytes = read_file_bytes(path);
  return decode_image(bytes.data(), bytes.size(), options, path);
}

JpegInfo jpeg_info(const std::uint8_t* data, std::size_t size, const DecodeOptions& options, const std::string& name) {
  if (sniff_format(data, size) != ImageFormat::jpeg) fail(name, "not a JPEG");
  int colorspace = 0;
  return read_jpeg_header(ThreadDecompressor::get(), data, size, options, name, &colorspace);
}

}  // namespace edat::data
