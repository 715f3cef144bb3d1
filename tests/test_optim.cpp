// Optimizers on the CPU: each update rule against the formula written out in f64 (SGD with momentum, dampening and
// Nesterov, Adam with bias correction and L2, AdamW with decoupled decay), frozen and gradient-less parameters,
// per-parameter step counts, zero_grad, gradient clipping, saving and resuming (the resumed run is bit-identical),
// and bad input: unknown names, bad hyper-parameters and learning rates, a state from another model or optimizer.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>

#include "autograd/ops.h"
#include "layers/functional.h"
#include "optim/clip.h"
#include "optim/optimizer.h"
#include "optim/schedules.h"
#include "optim/state_file.h"
#include "tests/optim_test_util.h"

using namespace edat;
using namespace edat::testing;

namespace {

const Options kF64{.dtype = DType::f64};

Tensor leaf(const std::vector<double>& values) {
  return from_vector(values, {.dtype = DType::f64, .requires_grad = true});
}

void set_grad(const Tensor& p, const std::vector<double>& g) { p.set_grad(from_vector(g, kF64)); }

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("edat_test_optim_" + name)).string();
}

}  // namespace

// ---- the update rules ----

TEST(Sgd, MomentumDampeningAndWeightDecayFollowTheFormula) {
  const std::vector<double> p0 = {0.5, -1.0, 2.0};
  const std::vector<std::vector<double>> grads = {{0.1, 0.2, -0.3}, {-0.4, 0.5, 0.6}, {0.7, -0.8, 0.9}};
  for (bool nesterov : {false, true}) {
    const double lr = 0.1, mu = 0.9, damp = nesterov ? 0.0 : 0.25, wd = 0.01;
    Tensor p = leaf(p0);
    optim::SGD sgd({{"p", p}}, {.lr = lr, .momentum = mu, .dampening = damp, .nesterov = nesterov, .weight_decay = wd});
    std::vector<double> expected = p0, buf(3);
    for (std::size_t step = 0; step < grads.size(); ++step) {
      set_grad(p, grads[step]);
      sgd.step();
      for (std::size_t i = 0; i < 3; ++i) {
        const double d = grads[step][i] + wd * expected[i];
        buf[i] = step == 0 ? d : mu * buf[i] + (1 - damp) * d;  // the first step stores d itself
        expected[i] -= lr * (nesterov ? d + mu * buf[i] : buf[i]);
      }
      EXPECT_TRUE(all_close(p, expected, 1e-14)) << "nesterov " << nesterov << ", step " << step + 1;
    }
    EXPECT_TRUE(all_close(sgd.parameter_state("p").at(0).second, buf, 1e-14));
    EXPECT_EQ(sgd.parameter_state("p").at(0).first, "momentum_buffer");
  }
}

TEST(Sgd, WithoutMomentumHasNoState) {
  Tensor p = leaf({1, 2});
  optim::SGD sgd({{"p", p}}, {.lr = 0.5});
  set_grad(p, {1, -1});
  sgd.step();
  EXPECT_TRUE(all_close(p, {0.5, 2.5}, 0));
  EXPECT_TRUE(sgd.parameter_state("p").empty());
  EXPECT_TRUE(sgd.state().tensors.empty());
}

TEST(Adam, BiasCorrectionEpsAfterSqrtAndL2FollowTheFormula) {
  const std::vector<double> p0 = {0.5, -1.0, 2.0, 0.0};
  const std::vector<std::vector<double>> grads = {{0.1, 0.2, -0.3, 0}, {-0.4, 0.5, 0.6, 1e-3}, {0.7, -0.8, 0.9, 5}};
  for (bool decoupled : {false, true}) {
    const double lr = 0.01, b1 = 0.8, b2 = 0.95, eps = 1e-3, wd = 0.1;
    Tensor p = leaf(p0);
    const optim::OptimizerOptions options{.lr = lr, .weight_decay = wd, .beta1 = b1, .beta2 = b2, .eps = eps};
    auto adam = optim::make_optimizer(decoupled ? "adamw" : "adam", {{"p", p}}, options);
    EXPECT_STREQ(adam->type(), decoupled ? "adamw" : "adam");
    std::vector<double> expected = p0, m(4), v(4);
    for (std::size_t step = 0; step < grads.size(); ++step) {
      set_grad(p, grads[step]);
      adam->step();
      const double t = static_cast<double>(step + 1);
      for (std::size_t i = 0; i < 4; ++i) {
        double g = grads[step][i];
        if (decoupled) {
          expected[i] *= 1 - lr * wd;
        } else {
          g += wd * expected[i];
        }
        m[i] = b1 * m[i] + (1 - b1) * g;
        v[i] = b2 * v[i] + (1 - b2) * g * g;
        const double denom = std::sqrt(v[i]) / std::sqrt(1 - std::pow(b2, t)) + eps;
        expected[i] -= lr / (1 - std::pow(b1, t)) * m[i] / denom;
      }
      EXPECT_TRUE(all_close(p, expected, 1e-13)) << (decoupled ? "adamw" : "adam") << ", step " << step + 1;
    }
    const auto state = adam->parameter_state("p");
    ASSERT_EQ(state.size(), 2u);
    EXPECT_EQ(state[0].first, "exp_avg");
    EXPECT_TRUE(all_close(state[0].second, m, 1e-13));
    EXPECT_TRUE(all_close(state[1].second, v, 1e-13));
    EXPECT_EQ(adam->parameter_steps("p"), 3);
  }
}

TEST(Adam, FirstStepMovesEachElementByAboutLr) {
  // Adam's hallmark: with bias correction the first update is lr * g / (|g| + eps) ~ lr * sign(g).
  Tensor p = leaf({0, 0, 0});
  optim::Adam adam({{"p", p}}, {.lr = 0.1});
  set_grad(p, {1e-3, -50, 2});
  adam.step();
  EXPECT_TRUE(all_close(p, {-0.1, 0.1, -0.1}, 1e-5));
}

// ---- which parameters are updated ----

TEST(Optimizer, FrozenParametersAreNeitherUpdatedNorGivenState) {
  for (const std::string name : {"sgd", "adam", "adamw"}) {
    Tensor trained = leaf({1, 2}), frozen = leaf({3, 4});
    auto optimizer = optim::make_optimizer(name, {{"trained", trained}, {"frozen", frozen}},
                                           {.lr = 0.1, .momentum = 0.9, .weight_decay = 0.5});
    frozen.set_requires_grad(false);
    for (int step = 0; step < 3; ++step) {
      set_grad(trained, {1, 1});
      set_grad(frozen, {1, 1});  // a stale gradient must not matter
      optimizer->step();
    }
    EXPECT_TRUE(all_close(frozen, {3, 4}, 0)) << name;
    EXPECT_FALSE(all_close(trained, {1, 2}, 1e-3)) << name;
    EXPECT_TRUE(optimizer->parameter_state("frozen").empty()) << name;
    EXPECT_EQ(optimizer->parameter_steps("frozen"), 0) << name;
    for (const auto& [key, t] : optimizer->state().tensors) EXPECT_EQ(key.find("frozen"), std::string::npos) << key;
  }
}

TEST(Optimizer, ParametersWithoutGradientAreSkippedAndCountTheirOwnSteps) {
  // b gets its first gradient at the optimizer's third step: its bias correction is that of step 1, exactly as a
  // fresh Adam would apply to it (PyTorch keeps a step count per parameter too).
  Tensor a = leaf({1, 1}), b = leaf({2, 2}), fresh = leaf({2, 2});
  optim::Adam adam({{"a", a}, {"b", b}}, {.lr = 0.1});
  optim::Adam reference({{"fresh", fresh}}, {.lr = 0.1});
  for (int step = 0; step < 3; ++step) {
    set_grad(a, {0.5, -0.5});
    if (step == 2) set_grad(b, {0.3, -2});
    adam.step();
    a.zero_grad();
    b.zero_grad();
  }
  set_grad(fresh, {0.3, -2});
  reference.step();
  EXPECT_EQ(adam.parameter_steps("a"), 3);
  EXPECT_EQ(adam.parameter_steps("b"), 1);
  EXPECT_EQ(adam.step_count(), 3);
  EXPECT_TRUE(all_close(b, fresh.to_vector<double>(), 0));
}

TEST(Optimizer, ZeroGradDropsEveryGradient) {
  Tensor a = leaf({1}), b = leaf({2});
  optim::SGD sgd({{"a", a}, {"b", b}}, {.lr = 0.1});
  sum(a * b).backward();
  ASSERT_TRUE(a.grad().defined() && b.grad().defined());
  sgd.zero_grad();
  EXPECT_FALSE(a.grad().defined());
  EXPECT_FALSE(b.grad().defined());
  sgd.step();  // nothing to do
  EXPECT_TRUE(all_close(a, {1}, 0));
}

TEST(Optimizer, TrainsASmallCnnOnF32) {
  auto model = small_cnn();
  fixture_weights(*model, 1);
  auto optimizer = optim::make_optimizer("adam", model->named_parameters(), {.lr = 1e-2});
  auto [x, t] = fixture_batch(0, {8, 3, 16, 16});
  double first = 0, last = 0;
  for (int step = 0; step < 30; ++step) {
    optimizer->zero_grad();
    Tensor loss = nn::mse_loss(model->forward(x), t);
    loss.backward();
    optimizer->step();
    (step == 0 ? first : last) = loss.item();
  }
  EXPECT_LT(last, 0.2 * first) << "the loss on one batch should fall: " << first << " -> " << last;
}

// ---- gradient clipping ----

TEST(ClipGradNorm, ScalesToMaxNormAndReturnsTheNormBefore) {
  Tensor a = leaf({3, 0}), b = leaf({0, 0, 4}), none = leaf({100});
  set_grad(a, {3, 0});
  set_grad(b, {0, 0, 4});  // total norm 5
  const Tensor norm = optim::clip_grad_norm(std::vector<Tensor>{a, b, none}, 1.0);
  EXPECT_EQ(norm.dtype(), DType::f64);
  EXPECT_DOUBLE_EQ(norm.item(), 5.0);
  const double coef = 1.0 / (5.0 + 1e-6);
  EXPECT_TRUE(all_close(a.grad(), {3 * coef, 0}, 1e-15));
  EXPECT_TRUE(all_close(b.grad(), {0, 0, 4 * coef}, 1e-15));
  EXPECT_FALSE(none.grad().defined());
  // Below the limit nothing changes.
  EXPECT_NEAR(optim::clip_grad_norm(std::vector<Tensor>{a, b}, 10.0).item(), 1.0, 1e-6);
  EXPECT_TRUE(all_close(a.grad(), {3 * coef, 0}, 1e-15));
}

TEST(ClipGradNorm, F32GradientsOfAModel) {
  auto model = small_cnn();
  fixture_weights(*model, 3);
  auto [x, t] = fixture_batch(0, {4, 3, 16, 16});
  nn::mse_loss(model->forward(x), t).backward();
  double expected = 0;
  for (const auto& [name, p] : model->named_parameters())
    for (double g : p.grad().to_vector<double>()) expected += g * g;
  const double norm = optim::clip_grad_norm(model->named_parameters(), 0.01).item();
  EXPECT_NEAR(norm, std::sqrt(expected), 1e-12 * std::sqrt(expected));
  double after = 0;
  for (const auto& [name, p] : model->named_parameters())
    for (double g : p.grad().to_vector<double>()) after += g * g;
  EXPECT_NEAR(std::sqrt(after), 0.01, 1e-7);
}

// ---- saving and resuming ----

namespace {

// Trains `steps` steps from the fixture batches starting at `first_batch`.
void train(nn::Module& model, optim::Optimizer& optimizer, optim::LRScheduler& scheduler, int first_batch, int steps) {
  model.train();
  for (int s = first_batch; s < first_batch + steps; ++s) {
    auto [x, t] = fixture_batch(s, {4, 3, 16, 16});
    optimizer.zero_grad();
    nn::mse_loss(model.forward(x), t).backward();
    optimizer.step();
    scheduler.step();
  }
}

}  // namespace

TEST(OptimizerState, ResumedRunIsBitIdentical) {
  for (const std::string name : {"sgd", "adam", "adamw"}) {
    SCOPED_TRACE(name);
    const optim::OptimizerOptions options{.lr = 0.02, .momentum = 0.9, .nesterov = true, .weight_decay = 1e-2};
    // The uninterrupted run: 3 steps, a checkpoint (model weights, optimizer and scheduler state), 2 more steps.
    auto model = small_cnn();
    fixture_weights(*model, 7);
    auto optimizer = optim::make_optimizer(name, model->named_parameters(), options);
    optim::CosineWarmupLR scheduler(*optimizer, 2, 6, 0.1);
    train(*model, *optimizer, scheduler, 0, 3);
    nn::NamedTensors checkpoint;
    for (const auto& [key, t] : model->state_dict()) checkpoint.emplace_back(key, t.clone());
    const std::string path = temp_path(name + ".safetensors");
    optim::save_state(path, *optimizer, &scheduler);
    train(*model, *optimizer, scheduler, 3, 2);

    // The resumed run: a fresh model and optimizer (with another lr: the file's wins), loaded, then the same 2 steps.
    auto resumed = small_cnn();
    resumed->load_state_dict(checkpoint);
    auto optimizer2 = optim::make_optimizer(name, resumed->named_parameters(), {.lr = 0.5, .momentum = 0.9});
    optim::CosineWarmupLR scheduler2(*optimizer2, 2, 6, 0.1);
    optim::load_state(path, *optimizer2, &scheduler2);
    EXPECT_EQ(scheduler2.epoch(), 3);
    EXPECT_EQ(optimizer2->lr(), scheduler.lr_at(3));
    EXPECT_EQ(optimizer2->step_count(), 3);
    EXPECT_EQ(optimizer2->options().weight_decay, 1e-2);
    train(*resumed, *optimizer2, scheduler2, 3, 2);

    const auto a = model->state_dict(), b = resumed->state_dict();
    ASSERT_EQ(a.size(), b.size());
    for (std::size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(bit_identical(a[i].second, b[i].second)) << a[i].first;
    EXPECT_EQ(optimizer->lr(), optimizer2->lr());
    std::filesystem::remove(path);
  }
}

TEST(OptimizerState, StateIsACopyAndRoundTripsInMemory) {
  Tensor p = leaf({1, 2});
  optim::Adam adam({{"p", p}}, {.lr = 0.1, .eps = 1e-6});
  set_grad(p, {1, 1});
  adam.step();
  const optim::OptimizerState saved = adam.state();
  const std::vector<double> m1 = saved.tensors.at(0).second.to_vector<double>();
  adam.step();  // changes the live state, not the copy
  EXPECT_EQ(saved.tensors.at(0).second.to_vector<double>(), m1);
  Tensor q = leaf({1, 2});
  optim::Adam other({{"p", q}}, {.lr = 0.7});
  other.load_state(saved);
  EXPECT_EQ(other.lr(), 0.1);
  EXPECT_EQ(other.options().eps, 1e-6);
  EXPECT_EQ(other.parameter_steps("p"), 1);
  EXPECT_EQ(other.parameter_state("p").at(0).second.to_vector<double>(), m1);
}

// ---- bad input ----

TEST(OptimizerErrors, UnknownNamesAreListed) {
  Tensor p = leaf({1});
  EXPECT_TRUE(throws_with(
      [&] {
        optim::make_optimizer("adagrad", {{"p", p}}, {});
      },
      {"adagrad", "sgd", "adam", "adamw"}));
  optim::SGD sgd({{"p", p}}, {});
  EXPECT_TRUE(throws_with([&] { optim::make_scheduler("exponential", sgd, {}); },
                          {"exponential", "step", "multistep", "cosine"}));
}

TEST(OptimizerErrors, NegativeOrNanLearningRates) {
  Tensor p = leaf({1});
  for (const std::string name : {"sgd", "adam", "adamw"}) {
    for (double lr : {-0.1, std::nan(""), std::numeric_limits<double>::infinity()}) {
      EXPECT_TRUE(throws_with(
          [&] {
            optim::make_optimizer(name, {{"p", p}}, {.lr = lr});
          },
          {name, "learning rate"}))
          << lr;
    }
    auto optimizer = optim::make_optimizer(name, {{"p", p}}, {.lr = 0.1});
    EXPECT_TRUE(throws_with([&] { optimizer->set_lr(-1); }, {"learning rate", "-1"}));
    EXPECT_TRUE(throws_with([&] { optimizer->set_lr(std::nan("")); }, {"learning rate", "nan"}));
    EXPECT_EQ(optimizer->lr(), 0.1);
  }
}

TEST(OptimizerErrors, BadHyperParameters) {
  Tensor p = leaf({1});
  const nn::NamedTensors params{{"p", p}};
  EXPECT_TRUE(throws_with([&] { optim::SGD(params, {.momentum = -0.5}); }, {"momentum"}));
  EXPECT_TRUE(throws_with([&] { optim::SGD(params, {.nesterov = true}); }, {"nesterov", "momentum"}));
  EXPECT_TRUE(throws_with([&] { optim::SGD(params, {.momentum = 0.9, .dampening = 0.1, .nesterov = true}); },
                          {"nesterov", "dampening"}));
  EXPECT_TRUE(throws_with([&] { optim::SGD(params, {.weight_decay = -1}); }, {"weight_decay"}));
  EXPECT_TRUE(throws_with([&] { optim::Adam(params, {.beta1 = 1.0}); }, {"beta1", "[0, 1)"}));
  EXPECT_TRUE(throws_with([&] { optim::AdamW(params, {.beta2 = -0.1}); }, {"adamw", "beta2"}));
  EXPECT_TRUE(throws_with([&] { optim::Adam(params, {.eps = std::nan("")}); }, {"eps"}));
  EXPECT_TRUE(throws_with([&] { optim::SGD({}, {}); }, {"empty parameter list"}));
  EXPECT_TRUE(throws_with([&] { optim::SGD({{"p", p}, {"q", p}}, {}); }, {"'q'", "twice"}));
  EXPECT_TRUE(throws_with([&] { optim::SGD({{"p", p}, {"p", leaf({2})}}, {}); }, {"two parameters", "'p'"}));
  EXPECT_TRUE(throws_with([&] { optim::SGD({{"p", p * 2.0}}, {}); }, {"not a leaf"}));
  EXPECT_TRUE(throws_with([&] { optim::clip_grad_norm(std::vector<Tensor>{p}, 0); }, {"max_norm"}));
}

TEST(OptimizerErrors, ParametersOfMixedDtypes) {
  Tensor a = leaf({1}), b = ones({1}, {.requires_grad = true});
  optim::Adam adam({{"a", a}, {"b", b}}, {});
  set_grad(a, {1});
  b.set_grad(ones({1}));
  EXPECT_TRUE(throws_with([&] { adam.step(); }, {"one dtype and device", "'a'", "'b'", "f32[1]"}));
}

TEST(OptimizerErrors, StateFromAnotherModelNamesTheFirstMismatch) {
  auto model = small_cnn();
  auto optimizer = optim::make_optimizer("adam", model->named_parameters(), {});
  auto [x, t] = fixture_batch(0, {2, 3, 16, 16});
  nn::mse_loss(model->forward(x), t).backward();
  optimizer->step();
  const std::string path = temp_path("cnn_adam.safetensors");
  optim::save_state(path, *optimizer);

  // Same names, one shape differs (a head with 2 outputs).
  auto two_outputs = small_cnn(2);
  auto adam2 = optim::make_optimizer("adam", two_outputs->named_parameters(), {});
  EXPECT_TRUE(throws_with([&] { optim::load_state(path, *adam2); },
                          {path, "another model", "parameter 6", "'9.weight' [1, 16]", "[2, 16] here"}));
  // Other names altogether.
  Generator gen(0);
  nn::Linear linear(3, 1, true, gen);
  auto adam3 = optim::make_optimizer("adam", linear.named_parameters(), {});
  EXPECT_TRUE(throws_with([&] { optim::load_state(path, *adam3); }, {"parameter 0", "'0.weight'", "'weight'"}));
  // A prefix of the same list.
  const nn::NamedTensors all = model->named_parameters();
  const nn::NamedTensors first_three(all.begin(), all.begin() + 3);
  auto adam4 = optim::make_optimizer("adam", first_three, {});
  EXPECT_TRUE(throws_with([&] { optim::load_state(path, *adam4); },
                          {"8 parameters, this optimizer 3", "first unmatched: '4.weight'"}));
  // Another optimizer, a missing scheduler, a file that is no optimizer state.
  auto sgd = optim::make_optimizer("sgd", model->named_parameters(), {});
  EXPECT_TRUE(throws_with([&] { optim::load_state(path, *sgd); }, {"'adam' optimizer", "this one is 'sgd'"}));
  optim::StepLR step(*optimizer, 3);
  EXPECT_TRUE(throws_with([&] { optim::load_state(path, *optimizer, &step); }, {"no learning-rate schedule"}));
  const std::string weights_path = temp_path("weights.safetensors");
  weights::write_safetensors(weights_path, model->state_dict());
  EXPECT_TRUE(
      throws_with([&] { optim::load_state(weights_path, *optimizer); }, {weights_path, "not an optimizer state"}));
  // A scheduler state of another schedule.
  optim::MultiStepLR multistep(*optimizer, {2, 4});
  EXPECT_TRUE(throws_with([&] { multistep.load_state_json(step.state_json()); }, {"'step' schedule", "'multistep'"}));
  std::filesystem::remove(path);
  std::filesystem::remove(weights_path);
}
