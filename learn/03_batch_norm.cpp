// Lesson 3 (docs/learn/03-batch-norm.md): batch normalisation's forward, its backward through the explicit terms
// dxhat, dvar, dmean down to the one-line form the kernels use, train vs eval, and frozen batch norm.
// One channel, m = 4 values (N 2, H 1, W 2), weight 2 and bias 0.5, so every number can be followed by hand.
#include <cmath>
#include <cstdio>
#include <vector>

#include "autograd/ops.h"
#include "layers/functional.h"
#include "layers/modules.h"
#include "learn/lesson.h"
#include "tensor/factory.h"

using namespace edat;
using learn::close;
using learn::expect;

int main() {
  const Options f64{.dtype = DType::f64};
  const std::vector<double> xs = {1, 2, 4, 9}, dys = {0.5, -1, 0.25, 1};
  const double gamma = 2, beta = 0.5, eps = 1e-5, m = 4;

  // ---- forward, by hand ----
  double mean = 0, var = 0;
  for (double v : xs) mean += v / m;
  for (double v : xs) var += (v - mean) * (v - mean) / m;  // biased: divides by m
  const double invstd = 1 / std::sqrt(var + eps);
  std::vector<double> xhat, y;
  for (double v : xs) xhat.push_back((v - mean) * invstd), y.push_back(gamma * xhat.back() + beta);
  std::printf("x = 1 2 4 9: mean %.4f, var %.4f (biased), invstd %.6f\n", mean, var, invstd);
  std::printf("xhat = (x - mean) invstd = %.4f %.4f %.4f %.4f; y = 2 xhat + 0.5 = %.4f %.4f %.4f %.4f\n", xhat[0],
              xhat[1], xhat[2], xhat[3], y[0], y[1], y[2], y[3]);

  Tensor x = from_vector(xs, {2, 1, 1, 2}, f64);
  Tensor weight = from_vector({gamma}, {1}, f64), bias = from_vector({beta}, {1}, f64);
  x.set_requires_grad(), weight.set_requires_grad(), bias.set_requires_grad();
  Tensor running_mean = zeros({1}, f64), running_var = ones({1}, f64);
  Tensor out = nn::batch_norm(x, weight, bias, running_mean, running_var, /*training=*/true);
  expect(learn::max_abs_diff(out, from_vector(y, {2, 1, 1, 2}, f64)) < 1e-12, "nn::batch_norm's output = by hand");

  // ---- backward, step by step (layers/reference/batch_norm_reference.cpp states it once for edat) ----
  // y_i = gamma xhat_i + beta, xhat_i = (x_i - mean) invstd, and mean and var are functions of every x_i.
  std::vector<double> dxhat;
  double dvar = 0, dmean = 0, dgamma = 0, dbeta = 0;
  for (int i = 0; i < 4; ++i) dxhat.push_back(dys[i] * gamma);                                 // dL/dxhat_i
  for (int i = 0; i < 4; ++i) dvar += dxhat[i] * (xs[i] - mean) * -0.5 * std::pow(invstd, 3);  // through invstd
  for (int i = 0; i < 4; ++i) dmean += -dxhat[i] * invstd;  // + dvar * (-2/m) sum (x_i - mean), which is 0
  std::vector<double> dx;
  for (int i = 0; i < 4; ++i) dx.push_back(dxhat[i] * invstd + dvar * 2 * (xs[i] - mean) / m + dmean / m);
  for (int i = 0; i < 4; ++i) dgamma += dys[i] * xhat[i], dbeta += dys[i];
  std::printf("\ndy = 0.5 -1 0.25 1\n");
  std::printf("dxhat = dy gamma             = %.4f %.4f %.4f %.4f\n", dxhat[0], dxhat[1], dxhat[2], dxhat[3]);
  std::printf("dvar  = sum dxhat (x - mean) (-1/2) invstd^3 = %.6f\n", dvar);
  std::printf("dmean = -invstd sum dxhat    = %.6f\n", dmean);
  std::printf("dx    = dxhat invstd + dvar 2 (x - mean) / m + dmean / m = %.6f %.6f %.6f %.6f\n", dx[0], dx[1], dx[2],
              dx[3]);
  std::printf("dgamma = sum dy xhat = %.6f, dbeta = sum dy = %.6f\n", dgamma, dbeta);

  // The kernels' form: substitute dvar and dmean and collect terms,
  //   dx_i = gamma invstd / m (m dy_i - sum dy - xhat_i sum dy xhat) = gamma invstd / m (m dy_i - dbeta - xhat_i
  //   dgamma)
  double worst = 0;
  for (int i = 0; i < 4; ++i)
    worst = std::max(worst, std::abs(gamma * invstd / m * (m * dys[i] - dbeta - xhat[i] * dgamma) - dx[i]));
  expect(worst < 1e-12,
         "the step-by-step dx = the kernels' one-line form gamma invstd / m (m dy - dbeta - xhat dgamma)");

  sum(out * from_vector(dys, {2, 1, 1, 2}, f64)).backward();
  expect(learn::max_abs_diff(x.grad(), from_vector(dx, {2, 1, 1, 2}, f64)) < 1e-12, "autograd's x.grad = dx");
  expect(close(weight.grad().item(), dgamma, 1e-12) && close(bias.grad().item(), dbeta, 1e-12),
         "autograd's weight.grad and bias.grad = dgamma and dbeta");
  double sum_dx = 0;
  for (double v : dx) sum_dx += v;
  expect(std::abs(sum_dx) < 1e-12, "sum dx = 0: shifting every x by the same amount changes nothing");

  // ---- running statistics: what evaluation mode uses ----
  // running_mean = 0.9 * 0 + 0.1 * mean; running_var = 0.9 * 1 + 0.1 * var m / (m - 1) (unbiased).
  std::printf("\nafter one training step: running_mean %.4f, running_var %.4f\n", running_mean.item(),
              running_var.item());
  expect(close(running_mean.item(), 0.1 * mean, 1e-12), "running_mean = 0.1 * batch mean");
  expect(close(running_var.item(), 0.9 + 0.1 * var * m / (m - 1), 1e-12), "running_var uses the unbiased variance");
  // Evaluation: y = (x - running_mean) / sqrt(running_var + eps) gamma + beta, a fixed affine map per channel, so one
  // image's output no longer depends on the rest of the batch.
  Tensor eval_out = nn::batch_norm(x.detach(), weight.detach(), bias.detach(), running_mean, running_var, false);
  const double expected0 = (xs[0] - running_mean.item()) / std::sqrt(running_var.item() + eps) * gamma + beta;
  std::printf("eval mode on the same x: y[0] = %.4f (train mode gave %.4f)\n", eval_out.to_vector<double>()[0], y[0]);
  expect(close(eval_out.to_vector<double>()[0], expected0, 1e-12), "eval mode normalises with the running statistics");

  // ---- frozen batch norm in transfer learning ----
  // A pretrained BatchNorm2d's running statistics describe ImageNet. Freezing its weight and bias is not enough: in
  // train mode it would still normalise with each small batch's statistics and overwrite the running ones.
  // models/transfer.cpp pins frozen batch norms in eval mode (Module::pin_eval), so model.train() leaves them alone.
  nn::BatchNorm2d frozen(1), unpinned(1);
  frozen.pin_eval();
  frozen.train(), unpinned.train();
  frozen.forward(x.detach().to(DType::f32)), unpinned.forward(x.detach().to(DType::f32));
  const double kept = frozen.state_dict()[2].second.item(), drifted = unpinned.state_dict()[2].second.item();
  std::printf("\nafter train() and one batch: pinned running_mean %.4f, unpinned %.4f\n", kept, drifted);
  expect(!frozen.is_training() && kept == 0, "a pinned (frozen) batch norm stays in eval mode: its statistics stay");
  expect(unpinned.is_training() && drifted != 0, "an unpinned one in train mode moves its running statistics");
  return learn::finish("lesson 3");
}
