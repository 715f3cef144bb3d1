// Image transforms with torchvision 0.14's semantics (its tensor code path, on uint8 images), and normalisation
// into a float CHW tensor.
//
// Two levels:
//   - functions (resize, crop, adjust_hue ...): deterministic, given all their parameters;
//   - Transform objects (RandomCrop, ColorJitter ...): draw their parameters from a Generator, then call the
//     functions. Compose chains them. The loader gives every sample its own Generator seeded from
//     (seed, epoch, sample index) (sample_generator below), so an augmented image never depends on which thread
//     made it or in which order.
//
// Where torchvision rounds and where it truncates matters for pixel equality, and is kept: resize and rotate round
// (half to even) to uint8; the colour adjustments truncate (torch's float -> uint8 cast), and their grayscale is
// itself truncated to uint8 first. Arithmetic is float, in torch's order. tests/test_transforms.cpp compares with
// torchvision's outputs (tests/fixtures/data/, made by scripts/fixtures_data.py) to within 1 per pixel (the colour
// adjustments: exactly).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "data/image.h"
#include "tensor/random.h"
#include "tensor/tensor.h"

namespace edat::data {

// ---- deterministic functions ----

// The most pixels resize makes: decode's default limit (a 16M x 1 image resized to a shorter side of 146 would ask
// for 2.4G x 146 and overflow an int).
inline constexpr std::int64_t max_resize_pixels = std::int64_t{1} << 26;

// Bilinear resize to width x height, align_corners=False. With antialias (the default) this is torch's
// _upsample_bilinear2d_aa (PIL's separable triangle filter, widened by the scale factor when shrinking; width pass,
// then height pass); without it, plain bilinear (F.interpolate). Resizing to the image's own size returns a copy.
Image resize(const Image& image, int width, int height, bool antialias = true);
// torchvision's int-size rule: the shorter side becomes `size`, the longer int(size * long / short).
Image resize_shorter_side(const Image& image, int size, bool antialias = true);
// The size resize_shorter_side gives, as (width, height); edat::Error beyond max_resize_pixels.
std::array<int, 2> shorter_side_size(int width, int height, int size);

// Crops the box (top, left, height, width); parts of the box outside the image are black (torchvision F.crop).
Image crop(const Image& image, int top, int left, int height, int width);
// torchvision F.center_crop: pads with black when the crop is larger, offsets rounded half to even.
Image center_crop(const Image& image, int height, int width);
// The box center_crop cuts from an image of this size (its top/left are negative when it pads).
Box center_crop_box(int image_width, int image_height, int height, int width);

enum class PadMode { constant, edge, reflect, symmetric };
// Pads left/top/right/bottom; `fill` is used by PadMode::constant.
Image pad(const Image& image, int left, int top, int right, int bottom, PadMode mode = PadMode::constant,
          std::array<std::uint8_t, 3> fill = {0, 0, 0});

Image hflip(const Image& image);
// Counter-clockwise rotation by `degrees` about the image centre, same size, bilinear, outside filled with `fill`
// (torchvision F.rotate on a tensor with interpolation BILINEAR, expand False; its grid_sample with zero padding
// and the fill blended in through a mask channel).
Image rotate(const Image& image, float degrees, std::array<float, 3> fill = {0, 0, 0});

// torchvision F.adjust_*: brightness, contrast, saturation factors >= 0 (1 = unchanged); hue in [-0.5, 0.5].
// Factors are doubles, like the Python floats torchvision receives (it casts them to float32 itself).
Image adjust_brightness(const Image& image, double factor);
Image adjust_contrast(const Image& image, double factor);
Image adjust_saturation(const Image& image, double factor);
Image adjust_hue(const Image& image, double hue_factor);
// rgb_to_grayscale as torchvision computes it for uint8: trunc(0.2989 R + 0.587 G + 0.114 B).
std::vector<std::uint8_t> grayscale(const Image& image);

// Several of the adjustments above, applied in order: the same pixels as calling adjust_brightness ... one after
// another, in one pass over the image (two when a contrast follows another adjustment, whose output's mean gray it
// needs; one more when it is first) and without intermediate images. ColorJitter uses it.
struct ColourAdjustment {
  enum Kind { brightness, contrast, saturation, hue };  // ColorJitter's order
  Kind kind;
  double factor;
};
Image adjust_colours(const Image& image, std::span<const ColourAdjustment> adjustments);

// torchvision's _rgb2hsv on n colours given as planar floats with integer values 0..255 (its input x / 255 is taken
// here): hue in [0, 1), saturation, value, bit for bit as torch's float32 arithmetic gives them.
void rgb_to_hsv(const float* red, const float* green, const float* blue, float* hue, float* saturation, float* value,
                std::size_t n);

// ---- normalisation into floats ----

// (x / 255 - mean) / std per channel, written as CHW floats (ToTensor + Normalize). Defaults: ImageNet's.
struct Normalize {
  std::array<float, 3> mean{0.485f, 0.456f, 0.406f};
  std::array<float, 3> std{0.229f, 0.224f, 0.225f};

  // Writes 3 * height * width floats to `chw`.
  void operator()(const Image& image, float* chw) const;
  // A new f32 tensor [3, height, width].
  Tensor to_tensor(const Image& image) const;
};

// ---- random transforms ----

// The per-sample generator: a pure function of (seed, epoch, index).
Generator sample_generator(std::uint64_t seed, std::uint64_t epoch, std::uint64_t index);

// The size a decoder may shrink an image to before the transforms, without changing what they do much:
// only a leading Resize gives one (see data/decode.h, DecodeOptions::min_width).
struct DecodeHint {
  int min_width = 0, min_height = 0;
};

class Transform {
 public:
  virtual ~Transform() = default;
  virtual Image apply(const Image& image, Generator& rng) const = 0;
  virtual std::string describe() const = 0;  // "RandomCrop(120x120, padding 4)"
  virtual DecodeHint decode_hint() const { return {}; }

  // Transforms that begin by cutting a box out of their input (RandomCrop, CenterCrop, RandomResizedCrop) can name
  // that box from the image's size alone, before it is decoded; the loader then decodes only the box
  // (decode_image_box, about half the work for a 120 px crop of a 200 px JPEG). input_box draws from `rng` exactly
  // what apply would draw for an image of this size, and finish_box does the rest of apply on the box's pixels:
  //   finish_box(crop(image, input_box(w, h, rng))) == apply(image, rng'), rng and rng' left in the same state.
  // nullopt (drawing nothing) when this transform or this size needs the whole image (padding, for instance).
  virtual std::optional<Box> input_box(int /*width*/, int /*height*/, Generator& /*rng*/) const { return std::nullopt; }
  virtual Image finish_box(Image box) const { return box; }
};

// Resize: to a fixed width x height, or (height == 0) the shorter side to `size` keeping the aspect ratio.
class Resize : public Transform {
 public:
  explicit Resize(int size, bool antialias = true);
  Resize(int height, int width, bool antialias = true);
  Image apply(const Image& image, Generator& rng) const override;
  std::string describe() const override;
  DecodeHint decode_hint() const override;

 private:
  int width_, height_;  // height_ == 0: shorter side to width_
  bool antialias_;
};

class CenterCrop : public Transform {
 public:
  CenterCrop(int height, int width);
  Image apply(const Image& image, Generator& rng) const override;
  std::string describe() const override;
  std::optional<Box> input_box(int width, int height, Generator& rng) const override;

 private:
  int height_, width_;
};

// torchvision RandomCrop: optional padding on every side first, optional pad_if_needed, then a uniform position.
class RandomCrop : public Transform {
 public:
  RandomCrop(int height, int width, int padding = 0, bool pad_if_needed = false, PadMode mode = PadMode::constant,
             std::array<std::uint8_t, 3> fill = {0, 0, 0});
  Image apply(const Image& image, Generator& rng) const override;
  std::string describe() const override;
  std::optional<Box> input_box(int width, int height, Generator& rng) const override;

 private:
  // The crop's uniform position in an image of this size (at least the crop's size), as torchvision draws it.
  Box draw_box(int width, int height, Generator& rng) const;

  int height_, width_, padding_;
  bool pad_if_needed_;
  PadMode mode_;
  std::array<std::uint8_t, 3> fill_;
};

// torchvision RandomResizedCrop: area fraction in `scale`, aspect ratio log-uniform in `ratio`, 10 tries, then
// the centre crop fallback; the crop is resized (antialiased) to height x width.
class RandomResizedCrop : public Transform {
 public:
  RandomResizedCrop(int height, int width, std::array<float, 2> scale = {0.08f, 1.0f},
                    std::array<float, 2> ratio = {3.0f / 4.0f, 4.0f / 3.0f});
  Image apply(const Image& image, Generator& rng) const override;
  std::string describe() const override;
  // The box for an image of this size.
  std::optional<Box> input_box(int width, int height, Generator& rng) const override;
  Image finish_box(Image box) const override;  // the resize

 private:
  int height_, width_;
  std::array<float, 2> scale_, ratio_;
};

class RandomHorizontalFlip : public Transform {
 public:
  explicit RandomHorizontalFlip(float p = 0.5f);
  Image apply(const Image& image, Generator& rng) const override;
  std::string describe() const override;

 private:
  float p_;
};

// An angle uniform in [-degrees, degrees] (or [low, high]), bilinear, fill for the uncovered corners.
class RandomRotation : public Transform {
 public:
  explicit RandomRotation(float degrees, std::array<float, 3> fill = {0, 0, 0});
  RandomRotation(float low, float high, std::array<float, 3> fill = {0, 0, 0});
  Image apply(const Image& image, Generator& rng) const override;
  std::string describe() const override;

 private:
  float low_, high_;
  std::array<float, 3> fill_;
};

// torchvision ColorJitter: factors uniform in [max(0, 1 - b), 1 + b] (brightness, contrast, saturation) and
// [-h, h] (hue, h <= 0.5); a zero turns that adjustment off. The four are applied in a random order (randperm(4)).
class ColorJitter : public Transform {
 public:
  ColorJitter(float brightness, float contrast, float saturation, float hue);
  Image apply(const Image& image, Generator& rng) const override;
  std::string describe() const override;

 private:
  std::array<std::array<float, 2>, 4> ranges_;  // brightness, contrast, saturation, hue
  std::array<bool, 4> enabled_;
};

// Applies its transforms in order.
class Compose {
 public:
  Compose() = default;
  template <class T, class... Args>
  Compose& add(Args&&... args) {
    transforms_.push_back(std::make_shared<T>(std::forward<Args>(args)...));
    return *this;
  }
  Compose& add(std::shared_ptr<const Transform> transform);
  Image apply(const Image& image, Generator& rng) const;
  // The first transform's input_box, and apply for the pixels of that box (see Transform::input_box).
  std::optional<Box> leading_box(int width, int height, Generator& rng) const;
  Image apply_to_leading_box(Image box, Generator& rng) const;
  std::string describe() const;    // "Resize(128) -> RandomCrop(120x120) -> ..."
  DecodeHint decode_hint() const;  // the first transform's
  bool empty() const { return transforms_.empty(); }

 private:
  std::vector<std::shared_ptr<const Transform>> transforms_;
};

}  // namespace edat::data
