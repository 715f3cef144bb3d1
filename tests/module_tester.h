// test_module(module, input): the checks every layer and block must pass, written once (dlib's test_layer idea).
//
//   1. gradients: in f64, the input and every trainable parameter are gradchecked against central differences
//      (autograd/gradcheck.h, gradcheck_in_place on the module's own tensors), in eval mode and, when the module's
//      training forward is deterministic (no dropout), in train mode;
//   2. backward accumulates: a second forward + backward without zero_grad doubles every .grad;
//   3. the state dict round-trips: load_state_dict(state_dict()) after the parameters were changed restores the
//      outputs exactly;
//   4. train vs eval: train()/eval() reach every submodule; an eval forward is repeatable and changes no buffer;
//   5. with a GPU: the module on CUDA gives the CPU's outputs and gradients (skipped, with a note, without one).
// The module's parameters are first moved a little off their initial values (jitter_parameters), and it is left in
// f64 on the CPU. Failures are reported through gtest (EXPECT), prefixed by the module's type.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "autograd/grad_mode.h"
#include "autograd/gradcheck.h"
#include "autograd/ops.h"
#include "layers/module.h"
#include "tensor/backend.h"
#include "tensor/factory.h"
#include "tests/test_util.h"

namespace edat::testing {

struct ModuleTestOptions {
  bool deterministic_train = true;  // false for modules whose training forward draws randomness (dropout)
  // atol 1e-7: the loss sums every output of a block, and a central difference carries a rounding noise of about
  // |L| 1e-16 / eps = 1e-10 |L|, which for |L| ~ 30 outgrows gradcheck's default floor of 1e-9 on small gradients.
  GradcheckOptions gradcheck{.atol = 1e-7};
  double cuda_tolerance = 1e-9;  // CPU vs CUDA in f64
};

namespace module_test_detail {

inline std::vector<Tensor> trainable(const nn::Module& module) {
  std::vector<Tensor> out;
  for (const auto& [name, tensor] : module.named_parameters())
    if (tensor.requires_grad()) out.push_back(tensor);
  return out;
}

inline std::vector<Tensor> snapshot(const nn::Module& module) {
  std::vector<Tensor> out;
  for (const auto& [name, tensor] : module.state_dict()) out.push_back(tensor.clone());
  return out;
}

// L = sum(module(x) * w) with a fixed cotangent w; backward fills x.grad and the parameters' .grad.
inline Tensor loss(nn::Module& module, const Tensor& x) {
  Tensor y = module(x);
  Generator generator(99);
  return sum(y * uniform(y.shape(), -1, 1, generator, {.dtype = y.dtype(), .device = y.device()}));
}

inline void check_gradients(nn::Module& module, const Tensor& x, bool training, const ModuleTestOptions& options,
                            const std::string& where) {
  module.train(training);
  std::vector<Tensor> leaves = {x};
  for (const Tensor& p : trainable(module)) leaves.push_back(p);
  const GradcheckResult result = gradcheck_in_place([&] { return module(x); }, leaves, options.gradcheck);
  EXPECT_TRUE(result.ok) << where << (training ? ", train mode: " : ", eval mode: ") << result.summary()
                         << " (input 0 is the module's input, then its trainable parameters in order)";
}

inline void check_accumulation(nn::Module& module, const Tensor& x, const std::string& where) {
  module.eval();
  module.zero_grad();
  x.zero_grad();
  loss(module, x).backward();
  std::vector<Tensor> once = {x.grad().clone()};
  for (const Tensor& p : trainable(module)) once.push_back(p.grad().clone());
  loss(module, x).backward();
  std::vector<Tensor> twice = {x.grad()};
  for (const Tensor& p : trainable(module)) twice.push_back(p.grad());
  for (std::size_t i = 0; i < once.size(); ++i)
    EXPECT_TRUE(all_close(twice[i], once[i] * 2.0, 1e-12, 1e-12))
        << where << ": .grad of tensor " << i << " did not accumulate over two backward()";
}

inline void check_state_dict_round_trip(nn::Module& module, const Tensor& x, const std::string& where) {
  NoGradGuard no_grad;
  module.eval();
  const Tensor before = module(x).clone();
  const nn::NamedTensors saved = [&] {
    nn::NamedTensors copy;
    for (const auto& [name, tensor] : module.state_dict()) copy.emplace_back(name, tensor.clone());
    return copy;
  }();
  for (const Tensor& p : trainable(module)) p.copy_(p + 0.5);
  if (!trainable(module).empty())
    EXPECT_FALSE(all_close(module(x), before, 0, 0)) << where << ": perturbing did nothing";
  module.load_state_dict(saved);
  EXPECT_TRUE(all_close(module(x), before, 0, 0)) << where << ": state dict did not round-trip";
}

inline void check_modes(nn::Module& module, const Tensor& x, const std::string& where) {
  module.train();
  for (const auto& [name, sub] : module.named_modules())
    EXPECT_TRUE(sub->is_training() || sub->eval_pinned()) << where << ": train() did not reach '" << name << "'";
  module.eval();
  for (const auto& [name, sub] : module.named_modules())
    EXPECT_FALSE(sub->is_training()) << where << ": eval() did not reach '" << name << "'";
  NoGradGuard no_grad;
  const std::vector<Tensor> buffers = snapshot(module);
  const Tensor first = module(x).clone();
  EXPECT_TRUE(all_close(module(x), first, 0, 0)) << where << ": eval forward is not repeatable";
  const std::vector<Tensor> after = snapshot(module);
  for (std::size_t i = 0; i < buffers.size(); ++i)
    EXPECT_TRUE(all_close(after[i], buffers[i], 0, 0)) << where << ": eval forward changed state tensor " << i;
}

inline void check_cuda_gradients(nn::Module& module, const Tensor& x, const ModuleTestOptions& options,
                                 const std::string& where);

// Eval-mode outputs and gradients on CUDA against the CPU's; moves the module there and back.
inline void check_cuda(nn::Module& module, const Tensor& x, const ModuleTestOptions& options,
                       const std::string& where) {
  if (!cuda::is_available()) {  // a CPU-only machine: the checks above are the test (EDAT_REQUIRE_GPU=1: a failure)
    if (gpu_required())
      ADD_FAILURE() << where << ": no CUDA device (EDAT_REQUIRE_GPU=1): " << cuda::unavailable_reason();
    return;
  }
  try {
    check_cuda_gradients(module, x, options, where);
  } catch (const Error& e) {  // cuDNN's legacy API lacks some f64 engines (layers/kernels.h): not an edat defect
    if (std::string(e.what()).find(nn::kCudnnHasNoF64Engine) == std::string::npos) throw;
    std::printf("[ note ] %s on CUDA not compared: %s\n", where.c_str(), e.what());
    module.to(Device::cpu());
  }
}

inline void check_cuda_gradients(nn::Module& module, const Tensor& x, const ModuleTestOptions& options,
                                 const std::string& where) {
  module.eval();
  module.zero_grad();
  x.zero_grad();
  Tensor l = loss(module, x);
  l.backward();
  std::vector<Tensor> cpu = {l.detach().clone(), x.grad().clone()};
  for (const Tensor& p : trainable(module)) cpu.push_back(p.grad().clone());
  module.to(Device::cuda());
  module.zero_grad();
  Tensor xg = x.detach().cuda().set_requires_grad();
  Tensor lg = loss(module, xg);
  lg.backward();
  std::vector<Tensor> gpu = {lg.detach(), xg.grad()};
  for (const Tensor& p : trainable(module)) gpu.push_back(p.grad());
  for (std::size_t i = 0; i < cpu.size(); ++i)
    EXPECT_TRUE(all_close(gpu[i].cpu(), cpu[i], options.cuda_tolerance, options.cuda_tolerance))
        << where << ": CUDA differs from the CPU in " << (i == 0 ? "the loss" : "gradient " + std::to_string(i - 1));
  module.to(Device::cpu());
}

// Moves every parameter off its initial value by U(-0.1, 0.1): with batch norm's zero biases a channel that a ReLU
// zeroes everywhere feeds exactly 0 to the next batch norm and ReLU, which then sits on its kink, where central
// differences see half a slope and no analytic gradient can agree.
inline void jitter_parameters(nn::Module& module) {
  NoGradGuard no_grad;
  Generator generator(4321);
  for (const auto& [name, p] : module.named_parameters())
    p.copy_(p + uniform(p.shape(), -0.1, 0.1, generator, {.dtype = p.dtype(), .device = p.device()}));
}

}  // namespace module_test_detail

inline void test_module(nn::Module& module, const Tensor& input, const ModuleTestOptions& options = {}) {
  using namespace module_test_detail;
  const std::string where = module.type_name();
  module.to(DType::f64);
  jitter_parameters(module);
  const Tensor x = input.detach().to(DType::f64).clone().set_requires_grad();
  check_gradients(module, x, false, options, where);
  if (options.deterministic_train) check_gradients(module, x, true, options, where);
  check_accumulation(module, x, where);
  check_state_dict_round_trip(module, x, where);
  check_modes(module, x, where);
  check_cuda(module, x, options, where);
}

}  // namespace edat::testing
