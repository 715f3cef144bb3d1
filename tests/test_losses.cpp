// Losses beside L1 and MSE: Smooth-L1 (values and gradients against PyTorch for several beta, a gradient check, bad
// input) and CORAL (the head, levels, loss with and without importance weights, gradients and predictions against
// coral-cnn's formula evaluated by PyTorch, a gradient check, bad input), both on CUDA against the fixture too.
// Fixture: losses.safetensors (scripts/fixtures_optim.py), compared in f64.
#include <cmath>

#include "autograd/gradcheck.h"
#include "autograd/ops.h"
#include "layers/functional.h"
#include "models/coral.h"
#include "tensor/backend.h"
#include "tests/optim_test_util.h"

using namespace edat;
using namespace edat::testing;

namespace {

Tensor f64_leaf(const Tensor& t) { return t.to(DType::f64).clone().set_requires_grad(); }

std::string beta_key(double beta) {
  char text[16];
  std::snprintf(text, sizeof text, "%.1f", beta);
  return text;
}

}  // namespace

TEST(SmoothL1, MatchesPyTorchForEachBeta) {
  const auto f = load_fixture("losses.safetensors");
  for (double beta : {1.0, 0.5, 2.0, 0.0}) {
    SCOPED_TRACE(beta);
    Tensor prediction = f64_leaf(f.at("smooth_l1/prediction"));
    const Tensor target = f.at("smooth_l1/target");
    Tensor loss = nn::smooth_l1_loss(prediction, target, beta);
    EXPECT_TRUE(all_close(loss, f.at("smooth_l1/" + beta_key(beta) + "/loss"), 1e-14));
    loss.backward();
    EXPECT_TRUE(all_close(prediction.grad(), f.at("smooth_l1/" + beta_key(beta) + "/grad"), 1e-14, 1e-18));
  }
}

TEST(SmoothL1, BranchesAndTheirBoundary) {
  // |d| < beta: 0.5 d^2 / beta; |d| >= beta: |d| - 0.5 beta (at |d| = beta both give beta / 2, slope 1).
  const Tensor p = from_vector({0.0, 0.5, -1.0, 3.0}, {.dtype = DType::f64, .requires_grad = true});
  const Tensor t = zeros({4}, {.dtype = DType::f64});
  Tensor loss = nn::smooth_l1_loss(p, t, 1.0);
  EXPECT_NEAR(loss.item(), (0 + 0.125 + 0.5 + 2.5) / 4, 1e-15);
  loss.backward();
  EXPECT_TRUE(all_close(p.grad(), {0, 0.5 / 4, -1.0 / 4, 1.0 / 4}, 1e-15));
}

TEST(SmoothL1, GradientCheck) {
  // Values on both branches, away from the kinks at |p - t| = 0 and = beta.
  const Tensor t = zeros({2, 5}, {.dtype = DType::f64});
  Tensor p = from_vector({0.1, -0.3, 0.45, 0.7, -1.2, 2.0, -0.05, 0.6, -0.8, 1.5}, {2, 5}, {.dtype = DType::f64});
  const GradcheckResult result = gradcheck(
      [t](const std::vector<Tensor>& in) { return nn::smooth_l1_loss(in[0], t, 0.5); }, {p.set_requires_grad()});
  EXPECT_TRUE(result.ok) << result.summary();
  const GradcheckResult both =
      gradcheck([](const std::vector<Tensor>& in) { return nn::smooth_l1_loss(in[0], in[1], 2.0); },
                {p.detach().clone().set_requires_grad(), (p.detach() * 0.3).set_requires_grad()});
  EXPECT_TRUE(both.ok) << both.summary();
}

TEST(SmoothL1, BadInput) {
  EXPECT_TRUE(throws_with([] { nn::smooth_l1_loss(ones({3}), ones({3}), -1); }, {"smooth_l1_loss", "beta", "-1"}));
  EXPECT_TRUE(throws_with(
      [] {
        nn::smooth_l1_loss(ones({3, 1}), ones({3}));
      },
      {"smooth_l1_loss", "f32[3, 1]", "f32[3]"}));
}

TEST(Coral, MatchesTheCoralCnnFormulaInPyTorch) {
  const auto f = load_fixture("losses.safetensors");
  Generator gen(0);
  models::CoralHead head(5, 7, gen);
  head.to(DType::f64);
  {
    NoGradGuard no_grad;
    head.named_parameters()[0].second.copy_(f.at("coral/weight"));
    head.named_parameters()[1].second.copy_(f.at("coral/bias"));
  }
  const Tensor levels = models::coral_levels(f.at("coral/labels"), 7);
  EXPECT_TRUE(all_close(levels, f.at("coral/levels"), 0));
  for (const std::string tag : {"plain", "weighted"}) {
    SCOPED_TRACE(tag);
    head.zero_grad();
    Tensor x = f64_leaf(f.at("coral/x"));
    Tensor logits = head.forward(x);
    EXPECT_TRUE(all_close(logits, f.at("coral/" + tag + "/logits"), 1e-14));
    Tensor loss = tag == "plain" ? models::coral_loss(logits, levels)
                                 : models::coral_loss(logits, levels, f.at("coral/importance"));
    EXPECT_TRUE(all_close(loss, f.at("coral/" + tag + "/loss"), 1e-14));
    loss.backward();
    EXPECT_TRUE(all_close(x.grad(), f.at("coral/" + tag + "/grad_x"), 1e-13, 1e-17));
    EXPECT_TRUE(all_close(head.named_parameters()[0].second.grad(), f.at("coral/" + tag + "/grad_weight"), 1e-13));
    EXPECT_TRUE(all_close(head.named_parameters()[1].second.grad(), f.at("coral/" + tag + "/grad_bias"), 1e-13));
    EXPECT_TRUE(all_close(models::coral_predict(logits), f.at("coral/" + tag + "/predict"), 0));
  }
}

TEST(Coral, LevelsAndPredictions) {
  EXPECT_TRUE(all_close(models::coral_levels(from_vector({0, 2, 3}), 4), {0, 0, 0, 1, 1, 0, 1, 1, 1}, 0));
  // sigmoid(l) > 0.5 exactly where l > 0; a logit of 0 is not counted.
  const Tensor logits = from_vector({5, 2, 0, -1, 3, 1, 0.5, 0.1}, {2, 4});
  EXPECT_TRUE(all_close(models::coral_predict(logits), {2, 4}, 0));
  EXPECT_TRUE(all_close(models::coral_predict(logits) + 16.0, {18, 20}, 0));  // + min_age
}

TEST(Coral, GradientCheck) {
  Generator gen(5);
  const Tensor levels = models::coral_levels(from_vector({1, 4, 0}, {.dtype = DType::f64}), 5);
  const Tensor importance = uniform({4}, 0.5, 1.5, gen, {.dtype = DType::f64});
  const GradcheckResult result = gradcheck(
      [&](const std::vector<Tensor>& in) {
        return models::coral_loss(matmul(in[0], in[1], false, true) + in[2], levels, importance);
      },
      {uniform({3, 6}, -2, 2, gen, {.dtype = DType::f64}).set_requires_grad(),
       uniform({1, 6}, -1, 1, gen, {.dtype = DType::f64}).set_requires_grad(),
       uniform({4}, -1, 1, gen, {.dtype = DType::f64}).set_requires_grad()});
  EXPECT_TRUE(result.ok) << result.summary();
}

TEST(Coral, BadInput) {
  Generator gen(0);
  EXPECT_TRUE(throws_with([&] { models::CoralHead(8, 1, gen); }, {"CoralHead", "at least 2"}));
  models::CoralHead head(8, 5, gen);
  EXPECT_TRUE(throws_with([&] { head.forward(ones({2, 7})); }, {"CoralHead", "(N, 8)", "f32[2, 7]"}));
  EXPECT_TRUE(throws_with([] { models::coral_levels(from_vector({0, 5}), 5); }, {"label 1 is 5", "[0, 4]"}));
  EXPECT_TRUE(throws_with([] { models::coral_levels(from_vector({1.5}), 5); }, {"label 0 is 1.5"}));
  EXPECT_TRUE(throws_with([] { models::coral_loss(ones({2, 4}), ones({2, 3})); }, {"coral_loss", "f32[2, 3]"}));
  EXPECT_TRUE(throws_with([] { models::coral_loss(ones({2, 4}), ones({2, 4}), ones({3})); }, {"importance"}));
}

TEST(LossesCuda, SmoothL1AndCoralMatchTheCpu) {
  EDAT_REQUIRE_CUDA();
  const auto f = load_fixture("losses.safetensors");
  for (double beta : {1.0, 0.0}) {
    Tensor p = f.at("smooth_l1/prediction").to(DType::f32).cuda().set_requires_grad();
    Tensor loss = nn::smooth_l1_loss(p, f.at("smooth_l1/target").to(DType::f32).cuda(), beta);
    EXPECT_TRUE(all_close(loss.cpu(), f.at("smooth_l1/" + beta_key(beta) + "/loss"), 1e-5)) << beta;
    loss.backward();
    EXPECT_TRUE(all_close(p.grad().cpu(), f.at("smooth_l1/" + beta_key(beta) + "/grad"), 1e-5, 1e-9)) << beta;
  }
  Tensor x = f.at("coral/x").cuda().set_requires_grad();
  const Tensor w = f.at("coral/weight").cuda(), b = f.at("coral/bias").cuda();
  const Tensor levels = models::coral_levels(f.at("coral/labels").cuda(), 7);
  Tensor logits = matmul(x, w, false, true) + b;
  Tensor loss = models::coral_loss(logits, levels, f.at("coral/importance").cuda());
  EXPECT_TRUE(all_close(loss.cpu(), f.at("coral/weighted/loss"), 1e-12));
  loss.backward();
  EXPECT_TRUE(all_close(x.grad().cpu(), f.at("coral/weighted/grad_x"), 1e-12, 1e-15));
  EXPECT_TRUE(all_close(models::coral_predict(logits).cpu(), f.at("coral/weighted/predict"), 0));
}
