// Image encoding: JPEG through TurboJPEG, PNG/BMP through stb_image_write. See encode.h.
#include "data/encode.h"

#include <stb_image_write.h>
#include <turbojpeg.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "tensor/error.h"

namespace edat::data {
namespace {

void check_image(const Image& image, const char* what) {
  EDAT_CHECK(!image.empty() && image.pixels.size() == static_cast<std::size_t>(image.width) * image.height * 3,
             what << ": the image is empty or its pixel buffer does not match " << image.width << "x" << image.height);
}

std::string lower_extension(const std::string& path) {
  const auto dot = path.find_last_of('.');
  std::string ext = dot == std::string::npos ? "" : path.substr(dot + 1);
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext;
}

void append_bytes(void* context, void* data, int size) {
  auto* out = static_cast<std::vector<std::uint8_t>*>(context);
  out->insert(out->end(), static_cast<std::uint8_t*>(data), static_cast<std::uint8_t*>(data) + size);
}

}  // namespace

std::vector<std::uint8_t> encode_jpeg(const Image& image, int quality, bool subsample_chroma) {
  check_image(image, "encode_jpeg");
  EDAT_CHECK(quality >= 1 && quality <= 100, "encode_jpeg: quality " << quality << " is not in 1..100");
  std::unique_ptr<void, int (*)(tjhandle)> tj(tjInitCompress(), tjDestroy);
  EDAT_CHECK(tj, "encode_jpeg: cannot create a TurboJPEG compressor: " << tjGetErrorStr2(nullptr));
  unsigned char* jpeg = nullptr;
  unsigned long size = 0;
  const int status = tjCompress2(tj.get(), image.pixels.data(), image.width, 0, image.height, TJPF_RGB, &jpeg, &size,
                                 subsample_chroma ? TJSAMP_420 : TJSAMP_444, quality, TJFLAG_ACCURATEDCT);
  std::unique_ptr<unsigned char, void (*)(unsigned char*)> owned(jpeg, tjFree);
  EDAT_CHECK(status == 0, "encode_jpeg: " << tjGetErrorStr2(tj.get()));
  return std::vector<std::uint8_t>(jpeg, jpeg + size);
}

std::vector<std::uint8_t> encode_png(const Image& image) {
  check_image(image, "encode_png");
  std::vector<std::uint8_t> out;
  EDAT_CHECK(
      stbi_write_png_to_func(append_bytes, &out, image.width, image.height, 3, image.pixels.data(), image.width * 3),
      "encode_png: stb_image_write failed for a " << image.width << "x" << image.height << " image");
  return out;
}

void write_file_bytes(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "wb"), std::fclose);
  EDAT_CHECK(file, "cannot open " << path << " for writing: " << std::strerror(errno));
  // fwrite of an empty vector would pass its null data() (undefined behaviour, UBSan says): nothing to write.
  EDAT_CHECK(bytes.empty() || std::fwrite(bytes.data(), 1, bytes.size(), file.get()) == bytes.size(),
             "cannot write " << path << ": " << std::strerror(errno));
  EDAT_CHECK(std::fclose(file.release()) == 0, "cannot write " << path << ": " << std::strerror(errno));
}

void write_image(const std::string& path, const Image& image, int jpeg_quality) {
  const std::string ext = lower_extension(path);
  if (ext == "jpg" || ext == "jpeg") return write_file_bytes(path, encode_jpeg(image, jpeg_quality));
  if (ext == "png") return write_file_bytes(path, encode_png(image));
  if (ext == "bmp") {
    check_image(image, "write_image");
    std::vector<std::uint8_t> out;
    EDAT_CHECK(stbi_write_bmp_to_func(append_bytes, &out, image.width, image.height, 3, image.pixels.data()),
               "write_image: stb_image_write failed for " << path);
    return write_file_bytes(path, out);
  }
  throw Error("write_image: " + path + ": unknown extension (use .jpg, .jpeg, .png or .bmp)");
}

}  // namespace edat::data
