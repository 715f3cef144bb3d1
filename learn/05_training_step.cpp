// Lesson 5 (docs/learn/05-training-step.md): the losses (L1, MSE, CORAL) with worked numbers, Adam with bias
// correction (PyTorch's rearranged update against the textbook one), step decay, and then one full training step of a
// small ResNet on four generated faces, the same calls as Trainer::train_epoch (train/trainer.cpp) makes.
#include <cmath>
#include <cstdio>
#include <vector>

#include "autograd/ops.h"
#include "data/demo_faces.h"
#include "data/transforms.h"
#include "layers/functional.h"
#include "learn/lesson.h"
#include "models/coral.h"
#include "models/resnet.h"
#include "optim/optimizer.h"
#include "optim/schedules.h"
#include "tensor/factory.h"
#include "train/objective.h"

using namespace edat;
using learn::close;
using learn::expect;

namespace {

double log_sigmoid(double z) { return -std::log1p(std::exp(-z)); }

void losses() {
  const Options f64{.dtype = DType::f64};
  Tensor prediction = from_vector({30, 42, 25}, f64), age = from_vector({28, 40, 35}, f64);
  prediction.set_requires_grad();
  Tensor l1 = nn::l1_loss(prediction, age);
  l1.backward();
  const std::vector<double> dl1 = prediction.grad().to_vector<double>();
  prediction.zero_grad();
  Tensor mse = nn::mse_loss(prediction, age);
  mse.backward();
  const std::vector<double> dmse = prediction.grad().to_vector<double>();
  std::printf("predictions 30 42 25, ages 28 40 35 (errors 2 2 -10)\n");
  std::printf("L1  = mean |d|   = %.4f, gradient sign(d) / 3 = %.4f %.4f %.4f\n", l1.item(), dl1[0], dl1[1], dl1[2]);
  std::printf("MSE = mean d^2   = %.4f, gradient 2 d / 3     = %.4f %.4f %.4f\n", mse.item(), dmse[0], dmse[1],
              dmse[2]);
  expect(close(l1.item(), 14.0 / 3, 1e-12) && close(dl1[2], -1.0 / 3, 1e-12), "L1 = 14/3, its gradient +-1/3");
  expect(close(mse.item(), 36, 1e-12) && close(dmse[2], -20.0 / 3, 1e-12),
         "MSE = 36, the outlier's gradient -20/3 is 10x the others' (L1: equal)");

  // CORAL over K = 4 ordered classes: 3 logits, logit k answers "label > k". Label 2 -> levels 1 1 0.
  Tensor logits = from_vector({2, 0, -1}, {1, 3}, f64);
  Tensor levels = models::coral_levels(from_vector({2}, f64), 4);
  const double by_hand = -(log_sigmoid(2) + log_sigmoid(0) + (log_sigmoid(-1) + 1));  // log(1 - s(l)) = ls(l) - l
  const double coral = models::coral_loss(logits, levels).item();
  std::printf("CORAL: logits 2 0 -1, label 2 (levels 1 1 0): loss %.6f; predicted class %g (sigmoids > 0.5)\n", coral,
              models::coral_predict(logits).item());
  expect(close(coral, by_hand, 1e-12), "coral_loss = the sum of the 3 binary cross-entropies, by hand");
  expect(models::coral_predict(logits).item() == 1, "CORAL predicts 1: only sigmoid(2) > 0.5 (sigmoid(0) is 0.5)");
}

// Adam on one scalar, five steps, in the textbook form (Kingma & Ba, algorithm 1) and through edat's optimizer.
void adam() {
  const double lr = 0.1, b1 = 0.9, b2 = 0.999, eps = 1e-8;
  const std::vector<double> grads = {0.5, -0.2, 0.3, 0.3, -1.0};
  double p = 1, m = 0, v = 0;
  Tensor param = from_vector({1.0}, {.dtype = DType::f64});
  param.set_requires_grad();
  auto optimizer = optim::make_optimizer("adam", {{"p", param}}, {.lr = lr});
  std::printf("\nAdam (lr 0.1): textbook p vs edat's optimizer\n");
  double worst = 0, first_step = 0;
  for (std::size_t t = 1; t <= grads.size(); ++t) {
    const double g = grads[t - 1];
    m = b1 * m + (1 - b1) * g;
    v = b2 * v + (1 - b2) * g * g;
    const double m_hat = m / (1 - std::pow(b1, t)), v_hat = v / (1 - std::pow(b2, t));  // bias correction
    p -= lr * m_hat / (std::sqrt(v_hat) + eps);
    // PyTorch (and optim/update_rules.h) rearrange it so that no tensor is divided twice:
    //   p -= (lr / (1 - b1^t)) m / (sqrt(v) / sqrt(1 - b2^t) + eps), since sqrt(v_hat) = sqrt(v) / sqrt(1 - b2^t).
    param.set_grad(from_vector({g}, {.dtype = DType::f64}));
    optimizer->step();
    worst = std::max(worst, std::abs(param.item() - p));
    if (t == 1) first_step = 1 - param.item();
    std::printf("  t %zu: g %5.2f  m_hat %8.5f  v_hat %8.5f  textbook p %.10f  edat p %.10f\n", t, g, m_hat, v_hat, p,
                param.item());
  }
  expect(worst < 1e-12, "PyTorch's rearranged Adam update = the textbook one (to rounding)");
  // Bias correction is why the first step is lr sign(g): m_hat = g and v_hat = g^2 at t = 1.
  expect(std::abs(first_step - lr) < 1e-7, "the first step moves p by lr (up to eps), whatever |g|");
  const auto names = optimizer->parameter_state("p");
  expect(names.size() == 2 && names[0].first == "exp_avg" && names[1].first == "exp_avg_sq",
         "its state: exp_avg (m) and exp_avg_sq (v), PyTorch's names");
}

void step_decay() {
  Tensor param = zeros({1}, {.requires_grad = true});
  auto optimizer = optim::make_optimizer("sgd", {{"p", param}}, {.lr = 0.1});
  optim::StepLR schedule(*optimizer, 2, 0.5);
  std::printf("\nStepLR(step 2, gamma 0.5) from lr 0.1, epoch by epoch:");
  for (int epoch = 0; epoch <= 6; ++epoch) std::printf(" %g", schedule.lr_at(epoch));
  std::printf("\n");
  expect(close(schedule.lr_at(5), 0.025, 1e-15), "lr at epoch 5 = 0.1 * 0.5^floor(5 / 2) = 0.025");
}

// Four faces drawn by data/demo_faces.h at 64 px, normalised as the loader does (data/transforms.h, Normalize).
Tensor face_batch(const std::vector<double>& ages) {
  const int size = 64;
  Tensor images = empty({static_cast<std::int64_t>(ages.size()), 3, size, size});
  for (std::size_t i = 0; i < ages.size(); ++i) {
    const data::Image face = data::draw_demo_face(ages[i], size, /*seed=*/0, i);
    data::Normalize{}(face, images.data<float>() + i * 3 * size * size);
  }
  return images;
}

double norm_of(const Tensor& t) {
  double s = 0;
  for (double v : t.to_vector<double>()) s += v * v;
  return std::sqrt(s);
}

void training_step() {
  Generator generator(0);
  // A ResNet with one BasicBlock per stage ("ResNet-10") and one output: the age.
  models::ResNet model({.block = models::BlockKind::basic, .layers = {1, 1, 1, 1}, .num_outputs = 1}, generator);
  const std::vector<double> ages_years = {8, 25, 45, 70};
  for (const auto& [name, tensor] : model.named_parameters())
    // The trainer starts the head's bias at the training median, where the L1 gradient of the bias is 0 (as many
    // ages above as below); 20 years, below the median, shows it move.
    if (name == "fc.bias") tensor.copy_(full({1}, 20.0));
  const Tensor images = face_batch(ages_years), ages = from_vector(ages_years);
  const train::AgeObjective objective({.arch = "resnet", .loss = "l1"});
  auto optimizer = optim::make_optimizer("adam", model.named_parameters(), {.lr = 1e-3});
  model.train();

  std::printf("\none training step of a 1-1-1-1 ResNet on 4 faces %s, ages 8 25 45 70:\n",
              shape_str(images.shape()).c_str());
  // Trainer::train_epoch: zero_grad -> forward -> loss -> backward -> step.
  optimizer->zero_grad();
  Tensor outputs = model.forward(images);
  Tensor loss = objective.loss(outputs, ages);
  const std::vector<double> predicted = outputs.to_vector<double>();
  std::printf("  forward: predictions %.3f %.3f %.3f %.3f, L1 loss %.4f\n", predicted[0], predicted[1], predicted[2],
              predicted[3], loss.item());
  loss.backward();
  std::printf("  backward: gradient norms");
  for (const auto& [name, tensor] : model.named_parameters())
    if (name == "conv1.weight" || name == "layer1.0.conv1.weight" || name == "layer4.0.conv2.weight" ||
        name == "fc.weight" || name == "fc.bias")
      std::printf("  %s %.4f", name.c_str(), norm_of(tensor.grad()));
  std::printf("\n");
  const double fc_bias_before = model.head().named_parameters()[1].second.item();
  const double fc_bias_grad = model.head().named_parameters()[1].second.grad().item();
  optimizer->step();
  const double fc_bias_after = model.head().named_parameters()[1].second.item();
  std::printf("  step (Adam, lr 1e-3): fc.bias %.6f -> %.6f (gradient %.4f)\n", fc_bias_before, fc_bias_after,
              fc_bias_grad);
  expect(close(fc_bias_grad, -0.5, 1e-6), "d L1 / d fc.bias = mean sign(prediction - age) = (1 - 3) / 4 = -0.5");
  expect(close(fc_bias_after - fc_bias_before, 1e-3, 1e-6), "the first Adam step moves fc.bias by lr, against g");

  double last = loss.item();
  const double first = last;
  for (int step = 2; step <= 10; ++step) {
    optimizer->zero_grad();
    Tensor l = objective.loss(model.forward(images), ages);
    l.backward();
    optimizer->step();
    last = l.item();
  }
  std::printf("  after 10 steps on the same batch: loss %.4f (first %.4f)\n", last, first);
  expect(last < first, "ten steps on one batch lower its loss");
}

}  // namespace

int main() {
  losses();
  adam();
  step_decay();
  training_step();
  return learn::finish("lesson 5");
}
