// FaceDetector over dlib: copies the RGB image into a dlib image, optionally doubles it (pyramid_up, as Python's
// detector(img, 1) does), runs the HOG detector and maps the boxes back. When that finds nothing, it looks once more
// with the image's edges extended (a face that fills its image, as in a tight face crop, leaves the HOG window no
// room around it and is missed otherwise).
#include "data/faces/face_detector.h"

#include <dlib/image_processing/frontal_face_detector.h>
#include <dlib/image_transforms.h>

#include <algorithm>
#include <cmath>
#include <sstream>
#include <string>

#include "data/faces/dlib_image.h"
#include "tensor/error.h"

namespace edat::data {

// dlib's frontal face detector, serialized, decompressed at build time (embed_frontal_face_detector.cpp).
extern const unsigned char kFrontalFaceDetector[];
extern const std::size_t kFrontalFaceDetectorSize;

struct FaceDetector::Impl {
  dlib::frontal_face_detector detector;
};

FaceDetector::FaceDetector(int upsample) : impl_(std::make_unique<Impl>()), upsample_(upsample) {
  EDAT_CHECK(upsample >= 0 && upsample <= kMaxUpsample,
             "FaceDetector: upsample must be 0.." << kMaxUpsample << ", got " << upsample);
  // dlib::get_frontal_face_detector() would decompress the detector first (0.2 s); the build did that once.
  std::istringstream bytes(std::string(reinterpret_cast<const char*>(kFrontalFaceDetector), kFrontalFaceDetectorSize));
  dlib::deserialize(impl_->detector, bytes);
}

FaceDetector::FaceDetector(const FaceDetector& other)
    : impl_(std::make_unique<Impl>(*other.impl_)), upsample_(other.upsample_) {}

FaceDetector::~FaceDetector() = default;

namespace {

// `image` with `border` pixels added on every side, each a copy of the nearest edge pixel.
Image extend_edges(const Image& image, int border) {
  Image out(image.width + 2 * border, image.height + 2 * border);
  for (int y = 0; y < out.height; ++y) {
    const std::uint8_t* source = image.row(std::clamp(y - border, 0, image.height - 1));
    std::uint8_t* target = out.row(y);
    for (int x = 0; x < out.width; ++x) {
      const int sx = std::clamp(x - border, 0, image.width - 1);
      for (int c = 0; c < 3; ++c) target[x * 3 + c] = source[sx * 3 + c];
    }
  }
  return out;
}

}  // namespace

std::vector<FaceBox> FaceDetector::detect(const Image& image) const {
  if (image.empty()) return {};
  std::vector<FaceBox> faces = detect_in(image, 0);
  if (faces.empty()) {
    const int border = static_cast<int>(std::lround(kEdgeExtension * std::max(image.width, image.height)));
    faces = detect_in(extend_edges(image, border), border);
  }
  return faces;
}

std::vector<FaceBox> FaceDetector::detect_in(const Image& image, int offset) const {
  dlib::array2d<dlib::rgb_pixel> pixels = to_dlib(image);
  for (int i = 0; i < upsample_; ++i) dlib::pyramid_up(pixels);

  std::vector<dlib::rect_detection> detections;
  impl_->detector(pixels, detections);
  const double scale = 1.0 / (1 << upsample_);
  std::vector<FaceBox> faces;
  for (const dlib::rect_detection& d : detections) {
    const dlib::rectangle& r = d.rect;
    FaceBox box;
    box.left = static_cast<int>(std::lround(r.left() * scale)) - offset;
    box.top = static_cast<int>(std::lround(r.top() * scale)) - offset;
    box.width = static_cast<int>(std::lround(r.width() * scale));
    box.height = static_cast<int>(std::lround(r.height() * scale));
    box.score = d.detection_confidence;
    faces.push_back(box);
  }
  std::sort(faces.begin(), faces.end(), [](const FaceBox& a, const FaceBox& b) { return a.score > b.score; });
  return faces;
}

double iou(const FaceBox& a, const FaceBox& b) {
  const int x0 = std::max(a.left, b.left), y0 = std::max(a.top, b.top);
  const int x1 = std::min(a.left + a.width, b.left + b.width), y1 = std::min(a.top + a.height, b.top + b.height);
  const double inter = static_cast<double>(std::max(0, x1 - x0)) * std::max(0, y1 - y0);
  const double uni = static_cast<double>(a.width) * a.height + static_cast<double>(b.width) * b.height - inter;
  return uni > 0 ? inter / uni : 0.0;
}

}  // namespace edat::data
