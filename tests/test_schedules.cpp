// Learning-rate schedules: the sequences of PyTorch's StepLR, MultiStepLR and SequentialLR(LinearLR warm-up,
// CosineAnnealingLR) reproduced bit for bit (fixture lr_schedules.safetensors from scripts/fixtures_optim.py), that
// step() drives the optimizer, state save/restore, and bad settings.
#include <cmath>
#include <limits>

#include "optim/schedules.h"
#include "tests/optim_test_util.h"

using namespace edat;
using namespace edat::testing;

namespace {

struct Case {
  std::string name;
  double base_lr;
  std::function<std::unique_ptr<optim::LRScheduler>(optim::Optimizer&)> make;
};

const std::vector<Case>& cases() {
  static const std::vector<Case> all = {
      {"step_30_0.1", 0.1, [](optim::Optimizer& o) { return std::make_unique<optim::StepLR>(o, 30, 0.1); }},
      {"step_3_0.5", 0.05, [](optim::Optimizer& o) { return std::make_unique<optim::StepLR>(o, 3, 0.5); }},
      {"multistep", 0.1,
       [](optim::Optimizer& o) {
         return std::make_unique<optim::MultiStepLR>(o, std::vector<std::int64_t>{3, 5, 5, 9, 20}, 0.3);
       }},
      {"cosine_w5_t50", 1e-3,
       [](optim::Optimizer& o) { return std::make_unique<optim::CosineWarmupLR>(o, 5, 50, 0.01, 0.0); }},
      {"cosine_w3_t20_eta", 0.1,
       [](optim::Optimizer& o) { return std::make_unique<optim::CosineWarmupLR>(o, 3, 20, 1.0 / 3, 1e-4); }},
      {"cosine_w0_t10", 0.1,
       [](optim::Optimizer& o) { return std::make_unique<optim::CosineWarmupLR>(o, 0, 10, 1.0 / 3, 0.0); }},
      {"cosine_w1_t7", 0.3,
       [](optim::Optimizer& o) { return std::make_unique<optim::CosineWarmupLR>(o, 1, 7, 0.5, 0.01); }},
  };
  return all;
}

std::unique_ptr<optim::Optimizer> sgd(double lr) {
  static Tensor p = ones({1}, {.requires_grad = true});
  return optim::make_optimizer("sgd", {{"p", p}}, {.lr = lr});
}

}  // namespace

TEST(Schedules, EqualPyTorchBitForBit) {
  const auto fixture = load_fixture("lr_schedules.safetensors");
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.name);
    const std::vector<double> expected = fixture.at(c.name).to_vector<double>();
    auto optimizer = sgd(c.base_lr);
    auto scheduler = c.make(*optimizer);
    EXPECT_EQ(optimizer->lr(), expected[0]);
    int mismatches = 0;
    for (std::size_t epoch = 0; epoch < expected.size(); ++epoch) {
      if (epoch > 0) scheduler->step();
      EXPECT_EQ(scheduler->epoch(), static_cast<std::int64_t>(epoch));
      mismatches += scheduler->lr() != expected[epoch] || optimizer->lr() != expected[epoch] ||
                    scheduler->lr_at(static_cast<std::int64_t>(epoch)) != expected[epoch];
      EXPECT_EQ(scheduler->lr(), expected[epoch]) << "epoch " << epoch;
    }
    EXPECT_EQ(mismatches, 0);
  }
}

TEST(Schedules, ShapesOfTheCurves) {
  auto optimizer = sgd(0.1);
  optim::StepLR step(*optimizer, 30, 0.1);
  EXPECT_EQ(step.lr_at(29), 0.1);
  EXPECT_NEAR(step.lr_at(30), 0.01, 1e-17);
  EXPECT_NEAR(step.lr_at(65), 0.001, 1e-18);
  optim::CosineWarmupLR cosine(*optimizer, 5, 105, 0.1, 0.0);
  EXPECT_NEAR(cosine.lr_at(0), 0.1 * 0.1, 1e-15);  // warm-up starts at base * start_factor
  EXPECT_NEAR(cosine.lr_at(5), 0.1, 1e-15);        // ... and reaches base at the end of the warm-up
  EXPECT_NEAR(cosine.lr_at(55), 0.05, 1e-12);      // half-way through the cosine
  EXPECT_NEAR(cosine.lr_at(105), 0.0, 1e-12);      // annealed to eta_min
  for (std::int64_t e = 1; e <= 5; ++e) EXPECT_GT(cosine.lr_at(e), cosine.lr_at(e - 1));
  for (std::int64_t e = 6; e <= 105; ++e) EXPECT_LT(cosine.lr_at(e), cosine.lr_at(e - 1));
  auto fixed = optim::make_scheduler("fixed", *optimizer, {});
  EXPECT_EQ(fixed->lr_at(100), optimizer->lr());
}

TEST(Schedules, FactoryMakesEachSchedule) {
  auto optimizer = sgd(0.2);
  auto multistep = optim::make_scheduler("multistep", *optimizer, {.milestones = {2, 4}, .gamma = 0.5});
  EXPECT_STREQ(multistep->type(), "multistep");
  EXPECT_EQ(multistep->lr_at(3), 0.1);
  EXPECT_EQ(multistep->lr_at(4), 0.05);
  auto step = optim::make_scheduler("step", *optimizer, {.step_size = 2, .gamma = 0.5});
  EXPECT_EQ(step->lr_at(5), 0.05);
  auto cosine = optim::make_scheduler("cosine", *optimizer, {.warmup_epochs = 1, .total_epochs = 3});
  EXPECT_STREQ(cosine->type(), "cosine");
  EXPECT_EQ(optim::make_scheduler("none", *optimizer, {})->type(), std::string("fixed"));
}

TEST(Schedules, StateRestoresTheEpochAndSettings) {
  auto optimizer = sgd(0.1);
  optim::CosineWarmupLR cosine(*optimizer, 3, 20, 0.25, 1e-3);
  for (int e = 0; e < 7; ++e) cosine.step();
  const std::string json = cosine.state_json();

  auto optimizer2 = sgd(0.9);  // another base lr and settings: the state's win
  optim::CosineWarmupLR resumed(*optimizer2, 1, 5);
  resumed.load_state_json(json);
  EXPECT_EQ(resumed.epoch(), 7);
  EXPECT_EQ(resumed.base_lr(), 0.1);
  EXPECT_EQ(resumed.options().total_epochs, 20);
  EXPECT_EQ(optimizer2->lr(), cosine.lr());
  for (int e = 0; e < 10; ++e) {
    cosine.step();
    resumed.step();
    EXPECT_EQ(resumed.lr(), cosine.lr());
  }
}

TEST(SchedulesErrors, BadSettings) {
  auto optimizer = sgd(0.1);
  EXPECT_TRUE(throws_with([&] { optim::StepLR(*optimizer, 0); }, {"step_size", "0"}));
  EXPECT_TRUE(throws_with([&] { optim::StepLR(*optimizer, 3, -0.5); }, {"gamma"}));
  EXPECT_TRUE(throws_with([&] { optim::StepLR(*optimizer, 3, std::nan("")); }, {"gamma"}));
  EXPECT_TRUE(throws_with([&] { optim::MultiStepLR(*optimizer, {}); }, {"milestone"}));
  EXPECT_TRUE(throws_with([&] { optim::MultiStepLR(*optimizer, {3, -1}); }, {"milestones", "-1"}));
  EXPECT_TRUE(throws_with([&] { optim::CosineWarmupLR(*optimizer, 5, 5); }, {"total_epochs (5)", "warmup_epochs (5)"}));
  EXPECT_TRUE(throws_with([&] { optim::CosineWarmupLR(*optimizer, 1, 5, 0.0); }, {"warmup_start_factor"}));
  EXPECT_TRUE(throws_with([&] { optim::CosineWarmupLR(*optimizer, 1, 5, 0.5, -1); }, {"eta_min"}));
  EXPECT_TRUE(throws_with([&] { optim::make_scheduler("linear", *optimizer, {}); }, {"'linear'", "step, multistep"}));
  optim::StepLR step(*optimizer, 2);
  EXPECT_TRUE(throws_with([&] { step.lr_at(-1); }, {"epoch", "-1"}));
  EXPECT_TRUE(throws_with([&] { step.load_state_json("{not json"); }, {"malformed"}));
  EXPECT_TRUE(throws_with([&] { step.load_state_json(R"({"format": "x"})"); }, {"not an edat scheduler state"}));
}
