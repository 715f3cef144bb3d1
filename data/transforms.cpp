// The random transforms (torchvision.transforms classes): each draws its parameters from the sample's Generator
// in torchvision's way, then calls the deterministic functions of transforms_geometry.cpp / transforms_color.cpp.
#include "data/transforms.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "tensor/error.h"

namespace edat::data {
namespace {

double uniform(Generator& rng, double low, double high) { return low + (high - low) * rng.next_unit(); }

// An integer uniform in [low, high] (torch.randint(low, high + 1)).
int randint(Generator& rng, int low, int high) {
  const double span = static_cast<double>(high) - low + 1;
  return std::min(high, low + static_cast<int>(rng.next_unit() * span));
}

std::string size_text(int height, int width) {
  return height == width ? std::to_string(width) : std::to_string(width) + "x" + std::to_string(height);
}

}  // namespace

Generator sample_generator(std::uint64_t seed, std::uint64_t epoch, std::uint64_t index) {
  return Generator(Generator::bits(Generator::bits(seed, epoch), index));
}

// ---- Resize ----

Resize::Resize(int size, bool antialias) : width_(size), height_(0), antialias_(antialias) {
  EDAT_CHECK(size > 0, "Resize: size " << size << " is not positive");
}
Resize::Resize(int height, int width, bool antialias) : width_(width), height_(height), antialias_(antialias) {
  EDAT_CHECK(height > 0 && width > 0, "Resize: size " << width << "x" << height << " is not positive");
}
Image Resize::apply(const Image& image, Generator&) const {
  return height_ == 0 ? resize_shorter_side(image, width_, antialias_) : resize(image, width_, height_, antialias_);
}
std::string Resize::describe() const {
  return "Resize(" + (height_ == 0 ? std::to_string(width_) : size_text(height_, width_)) +
         (antialias_ ? "" : ", no antialias") + ")";
}
DecodeHint Resize::decode_hint() const {
  return height_ == 0 ? DecodeHint{width_, width_} : DecodeHint{width_, height_};
}

// ---- CenterCrop ----

CenterCrop::CenterCrop(int height, int width) : height_(height), width_(width) {
  EDAT_CHECK(height > 0 && width > 0, "CenterCrop: size " << width << "x" << height << " is not positive");
}
Image CenterCrop::apply(const Image& image, Generator&) const { return center_crop(image, height_, width_); }
std::optional<Box> CenterCrop::input_box(int width, int height, Generator&) const {
  if (width < width_ || height < height_) return std::nullopt;  // it pads
  return center_crop_box(width, height, height_, width_);
}
std::string CenterCrop::describe() const { return "CenterCrop(" + size_text(height_, width_) + ")"; }

// ---- RandomCrop ----

RandomCrop::RandomCrop(int height, int width, int padding, bool pad_if_needed, PadMode mode,
                       std::array<std::uint8_t, 3> fill)
    : height_(height), width_(width), padding_(padding), pad_if_needed_(pad_if_needed), mode_(mode), fill_(fill) {
  EDAT_CHECK(height > 0 && width > 0, "RandomCrop: size " << width << "x" << height << " is not positive");
  EDAT_CHECK(padding >= 0, "RandomCrop: padding " << padding << " is negative");
}
Image RandomCrop::apply(const Image& input, Generator& rng) const {
  Image padded;
  const Image* image = &input;
  if (padding_ > 0) {
    padded = pad(*image, padding_, padding_, padding_, padding_, mode_, fill_);
    image = &padded;
  }
  // pad_if_needed pads the missing width on both sides, then the missing height, as torchvision does.
  if (pad_if_needed_ && image->width < width_) {
    const int extra = width_ - image->width;
    padded = pad(*image, extra, 0, extra, 0, mode_, fill_);
    image = &padded;
  }
  if (pad_if_needed_ && image->height < height_) {
    const int extra = height_ - image->height;
    padded = pad(*image, 0, extra, 0, extra, mode_, fill_);
    image = &padded;
  }
  EDAT_CHECK(image->width >= width_ && image->height >= height_,
             "RandomCrop: crop " << width_ << "x" << height_ << " is larger than the image (" << image->width << "x"
                                 << image->height << " after padding); use pad_if_needed or resize first");
  if (image->width == width_ && image->height == height_) return *image;
  const Box box = draw_box(image->width, image->height, rng);
  return crop(*image, box.top, box.left, box.height, box.width);
}
Box RandomCrop::draw_box(int width, int height, Generator& rng) const {
  if (width == width_ && height == height_) return {0, 0, height, width};  // nothing to draw
  const int top = randint(rng, 0, height - height_);
  const int left = randint(rng, 0, width - width_);
  return {top, left, height_, width_};
}
std::optional<Box> RandomCrop::input_box(int width, int height, Generator& rng) const {
  if (padding_ > 0 || width < width_ || height < height_) return std::nullopt;  // it pads
  return draw_box(width, height, rng);
}
std::string RandomCrop::describe() const {
  std::string text = "RandomCrop(" + size_text(height_, width_);
  if (padding_ > 0) text += ", padding " + std::to_string(padding_);
  if (pad_if_needed_) text += ", pad_if_needed";
  return text + ")";
}

// ---- RandomResizedCrop ----

RandomResizedCrop::RandomResizedCrop(int height, int width, std::array<float, 2> scale, std::array<float, 2> ratio)
    : height_(height), width_(width), scale_(scale), ratio_(ratio) {
  EDAT_CHECK(height > 0 && width > 0, "RandomResizedCrop: size " << width << "x" << height << " is not positive");
  EDAT_CHECK(scale[0] > 0 && scale[0] <= scale[1],
             "RandomResizedCrop: scale range [" << scale[0] << ", " << scale[1] << "] is not increasing and positive");
  EDAT_CHECK(ratio[0] > 0 && ratio[0] <= ratio[1],
             "RandomResizedCrop: ratio range [" << ratio[0] << ", " << ratio[1] << "] is not increasing and positive");
}
std::optional<Box> RandomResizedCrop::input_box(int image_width, int image_height, Generator& rng) const {
  const double area = static_cast<double>(image_width) * image_height;
  const double log_low = std::log(ratio_[0]), log_high = std::log(ratio_[1]);
  for (int attempt = 0; attempt < 10; ++attempt) {
    const double target_area = area * uniform(rng, scale_[0], scale_[1]);
    const double aspect = std::exp(uniform(rng, log_low, log_high));
    const int w = static_cast<int>(std::nearbyint(std::sqrt(target_area * aspect)));
    const int h = static_cast<int>(std::nearbyint(std::sqrt(target_area / aspect)));
    if (w > 0 && w <= image_width && h > 0 && h <= image_height) {
      const int top = randint(rng, 0, image_height - h);
      const int left = randint(rng, 0, image_width - w);
      return Box{top, left, h, w};
    }
  }
  // Fallback: the whole image, or a centred crop clamped to the ratio range.
  const double in_ratio = static_cast<double>(image_width) / image_height;
  int w = image_width, h = image_height;
  if (in_ratio < ratio_[0]) {
    h = static_cast<int>(std::nearbyint(w / static_cast<double>(ratio_[0])));
  } else if (in_ratio > ratio_[1]) {
    w = static_cast<int>(std::nearbyint(h * static_cast<double>(ratio_[1])));
  }
  return Box{(image_height - h) / 2, (image_width - w) / 2, h, w};
}
Image RandomResizedCrop::finish_box(Image box) const { return resize(box, width_, height_, true); }
Image RandomResizedCrop::apply(const Image& image, Generator& rng) const {
  const Box box = *input_box(image.width, image.height, rng);
  return finish_box(crop(image, box.top, box.left, box.height, box.width));
}
std::string RandomResizedCrop::describe() const {
  std::ostringstream out;
  out << "RandomResizedCrop(" << size_text(height_, width_) << ", scale " << scale_[0] << "-" << scale_[1] << ", ratio "
      << ratio_[0] << "-" << ratio_[1] << ")";
  return out.str();
}

// ---- RandomHorizontalFlip ----

RandomHorizontalFlip::RandomHorizontalFlip(float p) : p_(p) {
  EDAT_CHECK(p >= 0 && p <= 1, "RandomHorizontalFlip: probability " << p << " is not in [0, 1]");
}
Image RandomHorizontalFlip::apply(const Image& image, Generator& rng) const {
  return rng.next_unit() < p_ ? hflip(image) : image;
}
std::string RandomHorizontalFlip::describe() const {
  std::ostringstream out;
  out << "RandomHorizontalFlip(" << p_ << ")";
  return out.str();
}

// ---- RandomRotation ----

RandomRotation::RandomRotation(float degrees, std::array<float, 3> fill) : RandomRotation(-degrees, degrees, fill) {
  EDAT_CHECK(degrees >= 0, "RandomRotation: degrees " << degrees << " must not be negative (or give a range)");
}
RandomRotation::RandomRotation(float low, float high, std::array<float, 3> fill) : low_(low), high_(high), fill_(fill) {
  EDAT_CHECK(low <= high, "RandomRotation: range [" << low << ", " << high << "] is not increasing");
}
Image RandomRotation::apply(const Image& image, Generator& rng) const {
  return rotate(image, static_cast<float>(uniform(rng, low_, high_)), fill_);
}
std::string RandomRotation::describe() const {
  std::ostringstream out;
  out << "RandomRotation(" << low_ << " to " << high_ << " degrees)";
  return out.str();
}

// ---- ColorJitter ----

ColorJitter::ColorJitter(float brightness, float contrast, float saturation, float hue) {
  const float amounts[3] = {brightness, contrast, saturation};
  const char* names[3] = {"brightness", "contrast", "saturation"};
  for (int k = 0; k < 3; ++k) {
    EDAT_CHECK(amounts[k] >= 0, "ColorJitter: " << names[k] << " " << amounts[k] << " must not be negative");
    ranges_[k] = {std::max(0.0f, 1.0f - amounts[k]), 1.0f + amounts[k]};
    enabled_[k] = amounts[k] > 0;
  }
  EDAT_CHECK(hue >= 0 && hue <= 0.5f, "ColorJitter: hue " << hue << " is not in [0, 0.5]");
  ranges_[3] = {-hue, hue};
  enabled_[3] = hue > 0;
}
Image ColorJitter::apply(const Image& image, Generator& rng) const {
  // get_params: randperm(4) (Fisher-Yates here), then one factor per enabled adjustment.
  int order[4] = {0, 1, 2, 3};
  for (int i = 3; i > 0; --i) std::swap(order[i], order[randint(rng, 0, i)]);
  double factors[4] = {1, 1, 1, 0};
  for (int k = 0; k < 4; ++k) {
    if (enabled_[k]) factors[k] = uniform(rng, ranges_[k][0], ranges_[k][1]);
  }
  ColourAdjustment adjustments[4];
  int count = 0;
  for (int k : order) {
    if (enabled_[k]) adjustments[count++] = {static_cast<ColourAdjustment::Kind>(k), factors[k]};
  }
  return adjust_colours(image, {adjustments, static_cast<std::size_t>(count)});  // in one or two passes
}
std::string ColorJitter::describe() const {
  std::ostringstream out;
  out << "ColorJitter(brightness " << ranges_[0][1] - 1 << ", contrast " << ranges_[1][1] - 1 << ", saturation "
      << ranges_[2][1] - 1 << ", hue " << ranges_[3][1] << ")";
  return out.str();
}

// ---- Compose ----

Compose& Compose::add(std::shared_ptr<const Transform> transform) {
  EDAT_CHECK(transform, "Compose::add: null transform");
  transforms_.push_back(std::move(transform));
  return *this;
}
Image Compose::apply(const Image& image, Generator& rng) const {
  if (transforms_.empty()) return image;
  Image out = transforms_.front()->apply(image, rng);
  for (std::size_t i = 1; i < transforms_.size(); ++i) out = transforms_[i]->apply(out, rng);
  return out;
}
std::optional<Box> Compose::leading_box(int width, int height, Generator& rng) const {
  return transforms_.empty() ? std::nullopt : transforms_.front()->input_box(width, height, rng);
}
Image Compose::apply_to_leading_box(Image box, Generator& rng) const {
  EDAT_CHECK(!transforms_.empty(), "Compose::apply_to_leading_box: there are no transforms");
  Image out = transforms_.front()->finish_box(std::move(box));
  for (std::size_t i = 1; i < transforms_.size(); ++i) out = transforms_[i]->apply(out, rng);
  return out;
}
std::string Compose::describe() const {
  std::string text;
  for (const auto& t : transforms_) text += (text.empty() ? "" : " -> ") + t->describe();
  return text.empty() ? "(no transforms)" : text;
}
DecodeHint Compose::decode_hint() const {
  return transforms_.empty() ? DecodeHint{} : transforms_.front()->decode_hint();
}

}  // namespace edat::data
