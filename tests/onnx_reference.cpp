// onnx_reference: what edat itself computes, for tests/onnxruntime_test.py to compare onnxruntime with. For some
// images and a weights file it writes one safetensors file: `input`, the batch predict_age --whole-image builds of
// the images (decoded as it decodes them, train::eval_batch), `output`, the network's output for it, and `age`, the
// ages predict_age --tta none gives (train::load_age_model, so batch norms folded, as edat infers).
//
// With --arch it first writes seeded weights of that architecture to --weights, for architectures that have no
// trained model: torchvision's initialisation, batch-norm statistics measured on the images, and a head scaled to
// answer adult ages that differ between the images as far as float32 allows (scale_head), so that 1e-4 between two
// runtimes means something.
//
//   onnx_reference --weights W.safetensors --out R.safetensors IMAGE...
//   onnx_reference --arch vgg16 --loss coral --img-size 32 --seed 1 --weights W.safetensors --out R.safetensors
//   IMAGE...
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "data/decode.h"
#include "layers/modules.h"
#include "tensor/factory.h"
#include "train/checkpoint.h"
#include "train/evaluate.h"
#include "train/splits.h"
#include "weights/safetensors.h"

using namespace edat;

namespace {

// The images as predict_age --whole-image reads them: JPEGs may decode smaller in the DCT domain when the resize
// allows, then the evaluation transform and normalisation.
Tensor input_batch(const std::vector<std::string>& paths, const train::ModelDescription& d) {
  const data::Compose transforms = train::eval_transforms(d.img_size, d.resize);
  data::DecodeOptions decode;
  decode.min_width = transforms.decode_hint().min_width;
  decode.min_height = transforms.decode_hint().min_height;
  std::vector<data::Image> images;
  for (const std::string& path : paths) images.push_back(data::decode_image_file(path, decode));
  return train::eval_batch(images, transforms, d.img_size);
}

// The head's input projected on its weight, x . w, for each image.
std::vector<double> projected(models::Backbone& model, const Tensor& input, const Tensor& weight) {
  return matmul(model.features(input), weight, false, true).to_vector<double>();
}

// Random networks map different faces to nearly the same features, so ages that differ between the images need a
// head that magnifies small differences, and with them float32's rounding. The head's weight is scaled so that x . w
// spreads over `spread` for these images, but no further than keeps the network's own rounding (its float32
// x . w against the same network in f64) under a tenth of the test's 1e-4.
void scale_head(models::Backbone& model, const Tensor& input, const train::ModelDescription& d) {
  NoGradGuard no_grad;
  nn::Module& head = model.head();
  Tensor weight, bias;
  for (auto& [name, tensor] : head.named_parameters()) (name == "weight" ? weight : bias) = tensor;
  const std::vector<double> z = projected(model, input, weight);
  model.to(DType::f64);  // the handle `weight` follows
  const std::vector<double> exact = projected(model, input.to(DType::f64), weight);
  model.to(DType::f32);
  double mean = 0, rounding = 0;
  for (std::size_t i = 0; i < z.size(); ++i) {
    mean += z[i] / static_cast<double>(z.size());
    rounding = std::max(rounding, std::abs(z[i] - exact[i]));
  }
  const auto [low, high] = std::minmax_element(z.begin(), z.end());
  const bool coral = d.loss == "coral";
  const double spread = coral ? 4 : 12;  // logits +-2 around the images' centre, or 12 years
  const double scale = std::min(*high > *low ? spread / (*high - *low) : 1.0, rounding > 0 ? 1e-5 / rounding : 1e9);
  std::printf("onnx_reference: head x %.4g: x . w spreads over %.3g for the images (float32 rounding %.2g)\n", scale,
              scale * (*high - *low), scale * rounding);
  weight.copy_(weight * scale);
  if (!coral) {
    bias.copy_(full(bias.shape(), 40 - scale * mean));
    return;
  }
  // Levels from +3 to -3 around the images' centre: each image passes a different number of them.
  const std::int64_t levels = bias.numel();
  bias.copy_(arange(0, static_cast<double>(levels)) * (-6.0 / static_cast<double>(levels - 1)) + (3 - scale * mean));
}

// Each batch norm's running statistics become those of its input for these images, as a training-mode pass
// measures them: from zero, one pass leaves momentum x the batch's statistics, so dividing by the momentum gives
// them exactly (in evaluation mode the network then normalises as it does in training mode on this batch).
void measure_batch_norms(models::Backbone& model, const Tensor& input) {
  NoGradGuard no_grad;
  std::vector<nn::BatchNorm2d*> batch_norms;
  for (auto& [name, module] : model.named_modules()) {
    if (auto* bn = dynamic_cast<nn::BatchNorm2d*>(module)) {
      bn->running_mean().copy_(zeros(bn->running_mean().shape()));
      bn->running_var().copy_(zeros(bn->running_var().shape()));
      batch_norms.push_back(bn);
    }
  }
  model.train();
  model.forward(input);
  model.eval();
  for (nn::BatchNorm2d* bn : batch_norms) {
    bn->running_mean().copy_(bn->running_mean() * (1 / bn->momentum()));
    bn->running_var().copy_(bn->running_var() * (1 / bn->momentum()));
  }
}

void make_weights(const train::ModelDescription& d, std::uint64_t seed, const std::vector<std::string>& images,
                  const std::string& path) {
  Generator generator(seed);
  const std::shared_ptr<models::Backbone> model = train::build_model(d, generator);
  const Tensor input = input_batch(images, d);
  measure_batch_norms(*model, input);
  scale_head(*model, input, d);
  train::save_weights(path, *model, d);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"edat's own inputs, outputs and ages for images, for the ONNX runtime test"};
  std::string weights_path, out_path, arch, loss = "l1";
  std::int64_t img_size = 64, seed = 1;
  std::vector<std::string> images;
  app.add_option("--weights", weights_path, "weights to run (with --arch: to write first)")->required();
  app.add_option("--out", out_path, "safetensors file to write: input, output, age")->required();
  app.add_option("--arch", arch, "write seeded weights of this architecture to --weights first");
  app.add_option("--loss", loss, "--arch: l1 (a regression head) or coral")->check(CLI::IsMember({"l1", "coral"}));
  app.add_option("--img-size", img_size, "--arch: input size");
  app.add_option("--seed", seed, "--arch: seed of the weights");
  app.add_option("images", images, "image files, each taken as one face crop")->required();
  CLI11_PARSE(app, argc, argv);
  try {
    if (!arch.empty()) {
      train::ModelDescription d;
      d.arch = arch, d.loss = loss, d.img_size = img_size, d.resize = img_size * 8 / 7;
      if (loss == "coral") {
        d.coral_min_age = 16, d.coral_classes = 50;
      } else {
        d.max_age = 80;
      }
      make_weights(d, static_cast<std::uint64_t>(seed), images, weights_path);
    }
    const train::AgeModel model = train::load_age_model(weights_path);
    const train::AgeObjective objective(model.description);
    const Tensor input = input_batch(images, model.description);
    NoGradGuard no_grad;
    const Tensor output = model.model->forward(input);
    const std::vector<double> ages = objective.predict(output);
    weights::write_safetensors(
        out_path, {{"input", input}, {"output", output}, {"age", from_vector(ages, {.dtype = DType::f32})}});
    std::printf("onnx_reference: %s: %zu images, ages", weights_path.c_str(), ages.size());
    for (double age : ages) std::printf(" %.3f", age);
    std::printf("\n");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "onnx_reference: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
