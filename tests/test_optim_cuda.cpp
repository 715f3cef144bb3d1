// The fused CUDA optimizer kernels against the CPU ones: every optimizer over parameters of many sizes (one element,
// chunk boundaries, several chunks, an empty tensor), f32 and f64, with a parameter that misses a gradient for a step
// (per-tensor step counts inside one launch) and a frozen one; one kernel launch per step and tables uploaded only when
// pointers change; gradient clipping; a training run of the small CNN. Every test skips without a CUDA device.
#include <sstream>

#include "autograd/ops.h"
#include "layers/functional.h"
#include "optim/clip.h"
#include "optim/kernels.h"
#include "optim/optimizer.h"
#include "tensor/backend.h"
#include "tests/optim_test_util.h"

using namespace edat;
using namespace edat::testing;

namespace {

const Device kCuda = Device::cuda(0);

// Shapes around the kernels' 4096-element chunks.
const std::vector<Shape> kShapes = {{1}, {7}, {4096}, {4097}, {3, 5000}, {0}, {64, 3, 7, 7}, {513}};

struct Config {
  std::string name;
  optim::OptimizerOptions options;
};

const std::vector<Config> kConfigs = {
    {"sgd", {.lr = 0.1}},
    {"sgd", {.lr = 0.1, .momentum = 0.9, .dampening = 0.2, .weight_decay = 1e-2}},
    {"sgd", {.lr = 0.1, .momentum = 0.9, .nesterov = true, .weight_decay = 1e-2}},
    {"adam", {.lr = 1e-2, .weight_decay = 1e-2}},
    {"adam", {.lr = 1e-3, .beta1 = 0.5, .beta2 = 0.9, .eps = 1e-6}},
    {"adamw", {.lr = 1e-2, .weight_decay = 0.1}},
};

// Runs 4 steps with seeded gradients on `device`; parameter 1 has no gradient at step 2, parameter 3 is frozen.
std::pair<nn::NamedTensors, std::unique_ptr<optim::Optimizer>> run(const Config& config, DType dtype, Device device) {
  nn::NamedTensors params;
  Generator gen(17);
  for (std::size_t i = 0; i < kShapes.size(); ++i) {
    Tensor p = uniform(kShapes[i], -1, 1, gen, {.dtype = dtype}).to(device);
    p.set_requires_grad(i != 3);
    params.emplace_back(std::string("p").append(std::to_string(i)), p);
  }
  auto optimizer = optim::make_optimizer(config.name, params, config.options);
  for (int step = 0; step < 4; ++step) {
    for (std::size_t i = 0; i < params.size(); ++i) {
      const Tensor& p = params[i].second;
      p.set_grad(step == 2 && i == 1 ? Tensor() : uniform(p.shape(), -1, 1, gen, {.dtype = dtype}).to(device));
    }
    optimizer->step();
  }
  return {params, std::move(optimizer)};
}

::testing::AssertionResult matches(const Tensor& gpu, const Tensor& cpu, double rtol) {
  if (!gpu.device().is_cuda()) return ::testing::AssertionFailure() << "not on CUDA: " << gpu.desc();
  double scale = 1e-30;
  for (double v : cpu.to_vector<double>()) scale = std::max(scale, std::abs(v));
  return all_close(gpu.cpu(), cpu, rtol, rtol * scale);
}

}  // namespace

TEST(CudaOptim, EveryOptimizerMatchesTheCpu) {
  EDAT_REQUIRE_CUDA();
  for (DType dtype : {DType::f32, DType::f64}) {
    const double rtol = dtype == DType::f32 ? 2e-6 : 1e-13;
    for (const Config& config : kConfigs) {
      std::ostringstream trace;
      trace << config.name << " " << dtype_name(dtype) << " momentum " << config.options.momentum;
      SCOPED_TRACE(trace.str());
      auto [cpu_params, cpu_opt] = run(config, dtype, Device::cpu());
      auto [gpu_params, gpu_opt] = run(config, dtype, kCuda);
      for (std::size_t i = 0; i < cpu_params.size(); ++i) {
        const std::string& name = cpu_params[i].first;
        EXPECT_TRUE(matches(gpu_params[i].second, cpu_params[i].second, rtol)) << name;
        const auto cpu_state = cpu_opt->parameter_state(name), gpu_state = gpu_opt->parameter_state(name);
        ASSERT_EQ(cpu_state.size(), gpu_state.size()) << name;
        for (std::size_t s = 0; s < cpu_state.size(); ++s)
          EXPECT_TRUE(matches(gpu_state[s].second, cpu_state[s].second, rtol)) << name << " " << cpu_state[s].first;
        EXPECT_EQ(gpu_opt->parameter_steps(name), cpu_opt->parameter_steps(name)) << name;
      }
      EXPECT_EQ(gpu_opt->parameter_steps("p1"), 3);
      EXPECT_TRUE(gpu_opt->parameter_state("p3").empty());
    }
  }
}

TEST(CudaOptim, OneLaunchPerStepAndTablesReused) {
  EDAT_REQUIRE_CUDA();
  auto model = small_cnn();
  model->to(kCuda);
  auto optimizer = optim::make_optimizer("adam", model->named_parameters(), {.lr = 1e-3});
  optim::OptimKernels& kernels = optim::optim_kernels(kCuda);
  // Gradients that stay in place: the tables are uploaded at the first step only.
  for (const auto& [name, p] : model->named_parameters()) p.set_grad(ones_like(p));
  const optim::KernelStats before = kernels.stats();
  for (int step = 0; step < 5; ++step) optimizer->step();
  const optim::KernelStats after = kernels.stats();
  EXPECT_EQ(after.step_launches - before.step_launches, 5)
      << "one launch per step for " << model->named_parameters().size() << " parameters";
  EXPECT_EQ(after.table_uploads - before.table_uploads, 1);
  EXPECT_EQ(after.grad_uploads - before.grad_uploads, 1);
  // New gradients elsewhere: only the gradient pointers travel again.
  for (const auto& [name, p] : model->named_parameters()) p.set_grad(ones_like(p).clone());
  optimizer->step();
  const optim::KernelStats last = kernels.stats();
  EXPECT_EQ(last.table_uploads, after.table_uploads);
  EXPECT_LE(last.grad_uploads - after.grad_uploads, 1);
  EXPECT_EQ(last.step_launches - after.step_launches, 1);
}

// The kernels keep one set of tables per parameter list: two optimizers stepping in turn (a GAN's, or a head and a
// backbone optimised apart) upload theirs once each, not at every switch.
TEST(CudaOptim, OptimizersSteppingInTurnKeepTheirOwnTables) {
  EDAT_REQUIRE_CUDA();
  auto first_model = small_cnn(), second_model = small_cnn();
  first_model->to(kCuda);
  second_model->to(kCuda);
  auto first = optim::make_optimizer("adam", first_model->named_parameters(), {.lr = 1e-3});
  auto second = optim::make_optimizer("sgd", second_model->named_parameters(), {.lr = 1e-2, .momentum = 0.9});
  for (auto* model : {first_model.get(), second_model.get()})
    for (const auto& [name, p] : model->named_parameters()) p.set_grad(ones_like(p));
  const optim::KernelStats before = optim::optim_kernels(kCuda).stats();
  for (int step = 0; step < 4; ++step) {
    first->step();
    second->step();
  }
  const optim::KernelStats after = optim::optim_kernels(kCuda).stats();
  EXPECT_EQ(after.step_launches - before.step_launches, 8);
  EXPECT_EQ(after.table_uploads - before.table_uploads, 2);
  EXPECT_EQ(after.grad_uploads - before.grad_uploads, 2);
}

TEST(CudaOptim, ClipGradNormMatchesTheCpu) {
  EDAT_REQUIRE_CUDA();
  for (DType dtype : {DType::f32, DType::f64}) {
    std::vector<Tensor> cpu, gpu;
    Generator gen(3);
    for (const Shape& shape : kShapes) {
      Tensor p = zeros(shape, {.dtype = dtype, .requires_grad = true});
      p.set_grad(uniform(shape, -1, 1, gen, {.dtype = dtype}));
      Tensor q = zeros(shape, {.dtype = dtype, .device = kCuda, .requires_grad = true});
      q.set_grad(p.grad().cuda());
      cpu.push_back(p);
      gpu.push_back(q);
    }
    const double norm_cpu = optim::clip_grad_norm(cpu, 1.0).item();
    const Tensor norm_gpu = optim::clip_grad_norm(gpu, 1.0);
    EXPECT_TRUE(norm_gpu.device().is_cuda());
    EXPECT_NEAR(norm_gpu.item(), norm_cpu, 1e-12 * norm_cpu);
    for (std::size_t i = 0; i < cpu.size(); ++i)
      EXPECT_TRUE(matches(gpu[i].grad(), cpu[i].grad(), dtype == DType::f32 ? 1e-6 : 1e-13)) << i;
  }
}

TEST(CudaOptim, TrainingTheSmallCnnMatchesTheCpu) {
  EDAT_REQUIRE_CUDA();
  auto cpu_model = small_cnn(), gpu_model = small_cnn();
  fixture_weights(*cpu_model, 5);
  fixture_weights(*gpu_model, 5);
  gpu_model->to(kCuda);
  auto cpu_opt = optim::make_optimizer("adamw", cpu_model->named_parameters(), {.lr = 1e-2, .weight_decay = 0.1});
  auto gpu_opt = optim::make_optimizer("adamw", gpu_model->named_parameters(), {.lr = 1e-2, .weight_decay = 0.1});
  for (int step = 0; step < 5; ++step) {
    auto [x, t] = fixture_batch(step, {4, 3, 16, 16});
    for (auto* pair : {&cpu_opt, &gpu_opt}) (*pair)->zero_grad();
    nn::mse_loss(cpu_model->forward(x), t).backward();
    nn::mse_loss(gpu_model->forward(x.cuda()), t.cuda()).backward();
    optim::clip_grad_norm(cpu_model->named_parameters(), 0.5);
    optim::clip_grad_norm(gpu_model->named_parameters(), 0.5);
    cpu_opt->step();
    gpu_opt->step();
  }
  const auto a = cpu_model->state_dict(), b = gpu_model->state_dict();
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].second.dtype() != DType::f32) continue;
    EXPECT_TRUE(matches(b[i].second, a[i].second, 1e-4)) << a[i].first;
  }
}
