// Helpers shared by the optimizer tests: the fixtures' seeded weights and batches (scripts/fixtures_optim.py), the
// small CNN, and bit-level comparison of tensors.
#pragma once

#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <string>

#include "autograd/grad_mode.h"
#include "layers/modules.h"
#include "tensor/factory.h"
#include "tests/model_test_util.h"
#include "tests/test_util.h"
#include "weights/safetensors.h"

namespace edat::testing {

// scripts/fixtures_optim.py's bounds(): the uniform range of each state-dict tensor.
inline std::pair<double, double> fixture_bounds(const std::string& name, const Tensor& t) {
  if (t.dim() == 4) {
    const double b = std::sqrt(6.0 / static_cast<double>(t.size(0) * t.size(2) * t.size(3)));
    return {-b, b};
  }
  if (t.dim() == 2) {
    const double b = 1.0 / std::sqrt(static_cast<double>(t.size(1)));
    return {-b, b};
  }
  if (name.ends_with("running_var") || name.ends_with("weight")) return {0.5, 1.5};
  return {-0.2, 0.2};
}

// Every floating state-dict tensor in order, drawn from one stream (as the script does).
inline void fixture_weights(nn::Module& model, std::uint64_t seed) { stream_weights(model, seed, fixture_bounds); }

// Batch `step` of the script: x ~ U(-2, 2) from stream base + 2 step, targets (N, 1) ~ U(-2, 2) from the next.
inline std::pair<Tensor, Tensor> fixture_batch(std::int64_t step, const Shape& shape, std::uint64_t base = 5000) {
  Generator gx(base + 2 * static_cast<std::uint64_t>(step)), gt(base + 2 * static_cast<std::uint64_t>(step) + 1);
  return {uniform(shape, -2, 2, gx, {.dtype = DType::f64}).to(DType::f32),
          uniform({shape[0], 1}, -2, 2, gt, {.dtype = DType::f64}).to(DType::f32)};
}

// The script's small_cnn(): names 0.weight, 1.weight ... 9.bias as in torch.nn.Sequential; bias-free convolutions.
inline std::shared_ptr<nn::Sequential> small_cnn(std::int64_t outputs = 1) {
  Generator gen(0);
  auto model = std::make_shared<nn::Sequential>();
  model->push_back(
      std::make_shared<nn::Conv2d>(nn::Conv2dSpec{.in = 3, .out = 8, .kernel = 3, .padding = 1, .bias = false}, gen));
  model->push_back(std::make_shared<nn::BatchNorm2d>(8));
  model->push_back(std::make_shared<nn::ReLU>());
  model->push_back(std::make_shared<nn::MaxPool2d>(2));
  model->push_back(
      std::make_shared<nn::Conv2d>(nn::Conv2dSpec{.in = 8, .out = 16, .kernel = 3, .padding = 1, .bias = false}, gen));
  model->push_back(std::make_shared<nn::BatchNorm2d>(16));
  model->push_back(std::make_shared<nn::ReLU>());
  model->push_back(std::make_shared<nn::AdaptiveAvgPool2d>(1, 1));
  model->push_back(std::make_shared<nn::Flatten>(1));
  model->push_back(std::make_shared<nn::Linear>(16, outputs, true, gen));
  return model;
}

// Copies of every state-dict tensor (on the CPU).
inline std::map<std::string, Tensor> snapshot(const nn::Module& model) {
  std::map<std::string, Tensor> out;
  for (const auto& [name, t] : model.state_dict()) out[name] = t.cpu().clone();
  return out;
}

}  // namespace edat::testing
