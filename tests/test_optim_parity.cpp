// Optimizers against PyTorch: five training steps of a small CNN with batch norm (f32) and of a ResNet-18 at 32x32
// (f64: see scripts/fixtures_optim.py for why) by SGD-momentum (and Nesterov), Adam and AdamW with weight decay and a
// StepLR, from the same weights and batches. After every step each parameter and batch-norm buffer must match within
// 1e-5 (SGD) or 1e-4 (Adam, AdamW) of its largest magnitude, and the learning-rate sequence must be equal. A ResNet-18
// run in transfer mode partial {layer4, fc} matches PyTorch's freeze-and-eval recipe, and its frozen weights and
// batch-norm statistics stay bit-identical. The same runs on CUDA when a GPU is present.
#include <cstdio>
#include <cstdlib>
#include <functional>

#include "autograd/ops.h"
#include "layers/functional.h"
#include "models/resnet.h"
#include "models/transfer.h"
#include "optim/optimizer.h"
#include "optim/schedules.h"
#include "tensor/backend.h"
#include "tests/optim_test_util.h"

using namespace edat;
using namespace edat::testing;

namespace {

constexpr std::uint64_t kSeed = 4242;

// The script's OPTIMIZERS (lr: the small CNN's) and RESNET_LR.
optim::OptimizerOptions options_of(const std::string& config, bool resnet) {
  if (config == "sgd" || config == "partial_sgd")
    return {.lr = resnet ? 0.01 : 0.05, .momentum = 0.9, .weight_decay = 1e-3};
  if (config == "sgd_nesterov") return {.lr = 0.05, .momentum = 0.9, .nesterov = true, .weight_decay = 1e-3};
  if (config == "adam") return {.lr = resnet ? 1e-3 : 1e-2, .weight_decay = 1e-3};
  return {.lr = resnet ? 1e-3 : 1e-2, .weight_decay = 0.05};  // adamw
}

std::string optimizer_of(const std::string& config) {
  return config == "sgd_nesterov" || config == "partial_sgd" ? "sgd" : config;
}

double tolerance_of(const std::string& config) { return optimizer_of(config) == "sgd" ? 1e-5 : 1e-4; }

struct Worst {
  double error = 0;
  std::string where;
  void update(double e, const std::string& w) {
    if (!(e <= error)) error = e, where = w;
  }
};

using Compare = std::function<void(int step, const nn::Module& model, Worst& worst)>;

// Trains `model` five steps as the script does and calls `compare` after each; returns the learning rates seen.
// The small CNN runs in f32 with MSE, the ResNet-18 in f64 with L1 (see scripts/fixtures_optim.py).
std::vector<double> run(nn::Module& model, const std::string& config, const Shape& input_shape, Device device,
                        bool resnet, const Compare& compare, Worst& worst) {
  const DType dtype = resnet ? DType::f64 : DType::f32;
  model.to(dtype);
  model.to(device);
  model.train();
  auto optimizer = optim::make_optimizer(optimizer_of(config), model.named_parameters(), options_of(config, resnet));
  optim::StepLR scheduler(*optimizer, 2, 0.5);
  std::vector<double> lrs{scheduler.lr()};
  for (int step = 0; step < 5; ++step) {
    auto [x, t] = fixture_batch(step, input_shape);
    x = x.to(dtype).to(device), t = t.to(dtype).to(device);
    optimizer->zero_grad();
    Tensor y = model.forward(x);
    Tensor loss = resnet ? nn::l1_loss(y, t) : nn::mse_loss(y, t);
    loss.backward();
    optimizer->step();
    scheduler.step();
    lrs.push_back(scheduler.lr());
    Worst step_worst;
    compare(step + 1, model, step_worst);
    if (std::getenv("EDAT_PARITY_VERBOSE"))
      std::printf("  step %d: loss %.8g, worst %.2e (%s)\n", step + 1, loss.item(), step_worst.error,
                  step_worst.where.c_str());
    worst.update(step_worst.error, step_worst.where);
  }
  return lrs;
}

void expect_lrs(const std::vector<double>& lrs, const Tensor& expected) {
  const std::vector<double> e = expected.to_vector<double>();
  ASSERT_EQ(lrs.size(), e.size());
  for (std::size_t i = 0; i < e.size(); ++i) EXPECT_EQ(lrs[i], e[i]) << "learning rate after " << i << " steps";
}

void small_cnn_parity(Device device) {
  const auto fixture = load_fixture("optim_cnn.safetensors");
  for (const std::string config : {"sgd", "sgd_nesterov", "adam", "adamw"}) {
    SCOPED_TRACE(config);
    auto model = small_cnn();
    fixture_weights(*model, kSeed);
    Worst worst;
    const Compare compare = [&](int step, const nn::Module& m, Worst& w) {
      for (const auto& [name, t] : m.state_dict()) {
        if (t.dtype() != DType::f32) continue;
        const std::string key = config + "/" + std::to_string(step) + "/" + name;
        w.update(relative_error(t.to_vector<double>(), fixture.at(key).to_vector<double>()), key);
      }
    };
    const auto lrs = run(*model, config, {4, 3, 16, 16}, device, false, compare, worst);
    expect_lrs(lrs, fixture.at(config + "/lr"));
    EXPECT_LE(worst.error, tolerance_of(config)) << "worst: " << worst.where;
    std::printf("[ parity ] small CNN %-12s on %s: worst relative error %.2e (%s)\n", config.c_str(),
                device.str().c_str(), worst.error, worst.where.c_str());
  }
}

void resnet18_parity(Device device) {
  const auto fixture = load_fixture("optim_resnet18.safetensors");
  for (const std::string config : {"sgd", "adam", "adamw", "partial_sgd"}) {
    SCOPED_TRACE(config);
    Generator gen(0);
    auto model = models::resnet18(1, gen);
    fixture_weights(*model, kSeed);
    if (config == "partial_sgd") models::apply_transfer_mode(*model, models::TransferMode::partial, {"layer4", "fc"});
    model->to(DType::f64);
    const auto before = snapshot(*model);
    Worst worst;
    const Compare compare = [&](int step, const nn::Module& m, Worst& w) {
      const std::string prefix = config + "/" + std::to_string(step) + "/";
      const std::vector<double> expected = fixture.at(prefix + "samples").to_vector<double>();
      const std::vector<double> norms = fixture.at(prefix + "norms").to_vector<double>();
      std::size_t offset = 0, index = 0;
      for (const auto& [name, t] : m.state_dict()) {
        if (t.dtype() != DType::f64) continue;
        const std::vector<double> actual = samples(t, 32);
        const std::vector<double> e(expected.begin() + static_cast<std::ptrdiff_t>(offset),
                                    expected.begin() + static_cast<std::ptrdiff_t>(offset + actual.size()));
        offset += actual.size();
        const double norm = std::sqrt(sum(pow(t.to(DType::f64), 2.0)).item());
        const double norm_error = std::abs(norm - norms[index]) / std::max(norms[index], 1e-30);
        w.update(std::max(relative_error(actual, e), norm_error), prefix + name);
        ++index;
      }
      EXPECT_EQ(offset, expected.size());
      EXPECT_EQ(index, norms.size());
    };
    const auto lrs = run(*model, config, {4, 3, 32, 32}, device, true, compare, worst);
    expect_lrs(lrs, fixture.at(config + "/lr"));
    EXPECT_LE(worst.error, tolerance_of(config)) << "worst: " << worst.where;
    std::printf("[ parity ] ResNet-18 %-12s on %s: worst relative error %.2e (%s)\n", config.c_str(),
                device.str().c_str(), worst.error, worst.where.c_str());

    if (config == "partial_sgd") {  // frozen: everything outside layer4 and fc, bit for bit, running stats included
      int frozen = 0;
      for (const auto& [name, t] : model->state_dict()) {
        if (name.starts_with("layer4.") || name.starts_with("fc.")) {
          if (t.dtype() == DType::f64 && name.ends_with("weight")) {
            EXPECT_FALSE(bit_identical(t, before.at(name))) << name << " should have trained";
          }
          continue;
        }
        EXPECT_TRUE(bit_identical(t, before.at(name))) << name;
        ++frozen;
      }
      EXPECT_EQ(frozen, 90);  // the 122 state-dict tensors less layer4's 30 and fc's 2
    }
  }
}

}  // namespace

TEST(OptimParity, SmallCnnMatchesPyTorch) { small_cnn_parity(Device::cpu()); }

TEST(OptimParity, ResNet18MatchesPyTorch) { resnet18_parity(Device::cpu()); }

TEST(OptimParity, SmallCnnOnCudaMatchesPyTorch) {
  EDAT_REQUIRE_CUDA();
  small_cnn_parity(Device::cuda(0));
}

TEST(OptimParity, ResNet18OnCudaMatchesPyTorch) {
  EDAT_REQUIRE_CUDA();
  resnet18_parity(Device::cuda(0));
}
