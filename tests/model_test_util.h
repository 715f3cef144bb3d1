// Helpers shared by the whole-network tests (test_resnet, test_models, and through optim_test_util.h the optimizer
// and transfer tests): fixtures, weights drawn from the seeded stream as the fixture scripts draw them, the PyTorch
// parity protocol of scripts/make_fixtures.py's run_parity (eval output, train output, L1 loss, sampled gradients and their norms,
// running statistics after the step) and a CPU-vs-CUDA comparison of one training step.
#pragma once

#include <cmath>
#include <cstdio>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "layers/functional.h"
#include "layers/module.h"
#include "tensor/backend.h"
#include "tensor/factory.h"
#include "tests/test_util.h"
#include "weights/safetensors.h"

namespace edat::testing {

// A fixture of tests/fixtures/ (EDAT_FIXTURES_DIR) by key.
inline std::map<std::string, Tensor> load_fixture(const std::string& name) {
  std::map<std::string, Tensor> out;
  for (auto& [key, tensor] : weights::read_safetensors(std::string(EDAT_FIXTURES_DIR) + "/" + name)) out[key] = tensor;
  return out;
}

// The uniform range (low, high) of one state-dict tensor, by name and shape: each fixture script has its rule.
using WeightBounds = std::function<std::pair<double, double>(const std::string& name, const Tensor& t)>;

// The fixture scripts' seeded weights: every floating state-dict tensor in order, drawn from one stream of `seed`
// (f64 values rounded to f32, as numpy's astype does).
inline void stream_weights(nn::Module& model, std::uint64_t seed, const WeightBounds& bounds) {
  Generator gen(seed);
  NoGradGuard no_grad;
  for (auto& [name, t] : model.state_dict()) {
    if (t.dtype() != DType::f32) continue;
    const auto [low, high] = bounds(name, t);
    t.copy_(uniform(t.shape(), low, high, gen, {.dtype = DType::f64}).to(DType::f32));
  }
}

// `count` evenly spaced values at flat positions k (n - 1) / (m - 1), m = min(n, count): the script's samples.
inline std::vector<double> samples(const Tensor& t, std::int64_t count) {
  const std::vector<double> v = t.to_vector<double>();
  const std::int64_t n = static_cast<std::int64_t>(v.size()), m = std::min<std::int64_t>(n, count);
  std::vector<double> out;
  for (std::int64_t k = 0; k < m; ++k) out.push_back(v[static_cast<std::size_t>(m == 1 ? 0 : k * (n - 1) / (m - 1))]);
  return out;
}

// The worst error of `actual` against `expected` relative to the largest expected magnitude.
inline double relative_error(const std::vector<double>& actual, const std::vector<double>& expected) {
  double scale = 0, diff = 0;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    scale = std::max(scale, std::abs(expected[i]));
    diff = std::max(diff, std::abs(actual[i] - expected[i]));
  }
  return scale > 0 ? diff / scale : diff;
}

// Runs the fixture's protocol on `model` (moved to `device` and `dtype`) and compares every stored quantity: outputs
// and loss to 1e-4, each parameter's sampled gradient and gradient norm to `gradient_rtol` (relative to its largest
// sample), running statistics to 1e-4.
inline void expect_parity(nn::Module& model, const std::map<std::string, Tensor>& f, Device device,
                          DType dtype = DType::f32, double gradient_rtol = 1e-3) {
  const Tensor x = f.at("x").to(dtype).to(device), target = f.at("target").to(dtype).to(device);
  model.to(dtype);
  model.to(device);
  model.eval();
  {
    NoGradGuard no_grad;
    EXPECT_TRUE(all_close(model(x), f.at("eval_output"), 1e-4)) << "eval output";
  }
  model.train();
  Tensor y = model(x);
  Tensor loss = nn::l1_loss(y, target);
  EXPECT_TRUE(all_close(y, f.at("train_output"), 1e-4)) << "train output";
  EXPECT_TRUE(all_close(loss, f.at("train_loss"), 1e-4)) << "train loss";
  loss.backward();

  // Errors are relative to each parameter's own gradient, but never to less than 1e-6 of the largest gradient norm:
  // some gradients are exactly zero in theory (a bias followed by batch norm), and their values are rounding noise.
  double floor = 0;
  for (const auto& [key, t] : f)
    if (key.starts_with("grad_norm/")) floor = std::max(floor, 1e-6 * t.item());
  std::string worst;
  double worst_error = 0;
  std::size_t compared = 0;
  for (const auto& [name, p] : model.named_parameters()) {
    ASSERT_TRUE(p.grad().defined()) << name;
    ASSERT_TRUE(f.count("grad/" + name)) << name << " is not in the fixture";
    const std::vector<double> expected = f.at("grad/" + name).to_vector<double>();
    const std::vector<double> actual = samples(p.grad(), static_cast<std::int64_t>(expected.size()));
    const double norm = std::sqrt(sum(pow(p.grad().to(DType::f64), 2.0)).item());
    const double expected_norm = f.at("grad_norm/" + name).item();
    double scale = floor, diff = 0;
    for (std::size_t i = 0; i < expected.size(); ++i)
      scale = std::max(scale, std::abs(expected[i])), diff = std::max(diff, std::abs(actual[i] - expected[i]));
    const double error = std::max(diff / scale, std::abs(norm - expected_norm) / std::max(expected_norm, floor));
    if (error > worst_error) worst_error = error, worst = name;
    ++compared;
  }
  std::size_t in_fixture = 0;
  for (const auto& [key, t] : f) in_fixture += key.starts_with("grad_norm/");
  EXPECT_EQ(compared, in_fixture) << "parameters compared vs in the fixture";
  EXPECT_LE(worst_error, gradient_rtol) << "worst gradient: " << worst;
  std::printf("[ parity ] %s: gradients of %zu parameters, worst relative error %.2e (%s)\n", device.str().c_str(),
              compared, worst_error, worst.c_str());

  for (const auto& [name, b] : model.named_buffers()) {
    if (b.dtype() != dtype) continue;
    const Tensor& expected = f.at("after/" + name);
    EXPECT_TRUE(all_close(samples(b, expected.numel()), expected.to_vector<double>(), 1e-4, 1e-6)) << name;
  }
}

// One training step (L1 loss) of two copies of a network, on the CPU and on CUDA, from the same weights, in `dtype`:
// outputs in both modes to 1e-4, every gradient to `gradient_rtol` relative to its largest element.
inline void expect_cuda_matches_cpu(nn::Module& on_cpu, nn::Module& on_gpu, Tensor x, Tensor target,
                                    DType dtype = DType::f32, double gradient_rtol = 1e-3) {
  x = x.to(dtype), target = target.to(dtype);
  on_cpu.to(dtype);
  on_gpu.to(dtype);
  on_gpu.to(Device::cuda(0));
  on_cpu.train();
  on_gpu.train();
  Tensor y_cpu = on_cpu(x), y_gpu = on_gpu(x.cuda());
  EXPECT_TRUE(all_close(y_gpu.cpu(), y_cpu, 1e-4)) << "train-mode output";
  nn::l1_loss(y_cpu, target).backward();
  nn::l1_loss(y_gpu, target.cuda()).backward();
  const nn::NamedTensors cpu_params = on_cpu.named_parameters(), gpu_params = on_gpu.named_parameters();
  for (std::size_t i = 0; i < cpu_params.size(); ++i) {
    EXPECT_LE(relative_error(gpu_params[i].second.grad().to_vector<double>(),
                             cpu_params[i].second.grad().to_vector<double>()),
              gradient_rtol)
        << cpu_params[i].first;
  }
  on_cpu.eval();
  on_gpu.eval();
  NoGradGuard no_grad;
  EXPECT_TRUE(all_close(on_gpu(x.cuda()).cpu(), on_cpu(x), 1e-4)) << "eval-mode output";
}

}  // namespace edat::testing
