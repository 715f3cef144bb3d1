// Mean-reduced regression losses, composed of elementwise ops and mean (their backwards give the gradients:
// L1: dprediction = sign(p - t) / n, MSE: dprediction = 2 (p - t) / n, and the negatives for the target).
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

}  // namespace edat::nn
