// Mean-reduced regression losses, composed of elementwise ops and mean (their backwards give the gradients:
// L1: dprediction = sign(p - t) / n, MSE: dprediction = 2 (p - t) / n, Smooth-L1: clamp((p - t) / beta, -1, 1) / n,
// and the negatives for the target).
#include "autograd/ops/common.h"
#include "layers/functional.h"

namespace edat::nn {
using namespace ops_detail;

namespace {

// PyTorch would broadcast mismatched shapes with a warning (a (N, 1) prediction against an (N) target silently
// becomes an (N, N) loss); here that is an error naming both.
void check_loss_operands(const char* op, const Tensor& prediction, const Tensor& target) {
  check_pair(op, prediction, target);
  EDAT_CHECK(prediction.shape() == target.shape(),
             op << ": shapes differ: prediction " << prediction.desc() << " vs target " << target.desc());
  EDAT_CHECK(prediction.numel() > 0, op << ": empty prediction " << prediction.desc());
}

}  // namespace

// mean |p - t|
Tensor l1_loss(const Tensor& prediction, const Tensor& target) {
  check_loss_operands("l1_loss", prediction, target);
  return mean(abs(prediction - target));
}

// mean (p - t)^2
Tensor mse_loss(const Tensor& prediction, const Tensor& target) {
  check_loss_operands("mse_loss", prediction, target);
  return mean(pow(prediction - target, 2.0));
}

// mean of 0.5 a^2 / beta (a = |p - t| < beta) or a - 0.5 beta (a >= beta). With c = min(a, beta) both branches are
// c (a - 0.5 c) / beta, and min(a, beta) = beta - relu(beta - a), so existing ops give the value and the gradient:
// a / beta inside (c = a), 1 outside (c = beta, constant), and at a = beta relu's zero slope picks the outer branch,
// as PyTorch does.
Tensor smooth_l1_loss(const Tensor& prediction, const Tensor& target, double beta) {
  check_loss_operands("smooth_l1_loss", prediction, target);
  EDAT_CHECK(beta >= 0, "smooth_l1_loss: beta must be non-negative, got " << beta);
  if (beta == 0) return l1_loss(prediction, target);  // PyTorch's rule: beta 0 is exactly L1
  const Tensor a = abs(prediction - target);
  const Tensor c = beta - relu(beta - a);
  return mean(c * (a - c * 0.5) / beta);
}

}  // namespace edat::nn
