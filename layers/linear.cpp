// Linear layer: y = x weight^T + bias, composed of matmul and a broadcasting add (whose backwards give
// dx = dy weight, dweight = dy^T x, dbias = sum of dy over the batch).
#include "autograd/ops/common.h"
#include "layers/functional.h"

namespace edat::nn {
using namespace ops_detail;

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  check_pair("linear", x, weight);
  EDAT_CHECK(weight.dim() == 2, "linear: expects a 2-D weight (out_features, in_features), got " << weight.desc());
  EDAT_CHECK(x.dim() >= 1 && x.size(-1) == weight.size(1),
             "linear: input " << x.desc() << " has " << (x.dim() >= 1 ? x.size(-1) : 0) << " features, weight "
                              << weight.desc() << " expects " << weight.size(1));
  if (bias.defined()) {
    check_pair("linear", x, bias);
    EDAT_CHECK(bias.dim() == 1 && bias.size(0) == weight.size(0),
               "linear: bias " << bias.desc() << " must hold one value per output of weight " << weight.desc());
  }
  // Leading dims other than the batch are folded into it: (..., in) -> (rows, in) -> (..., out).
  Shape out_shape = x.shape();
  out_shape.back() = weight.size(0);
  Tensor y = matmul(x.dim() == 2 ? x : reshape(x, {-1, weight.size(1)}), weight, false, true);
  if (bias.defined()) y = y + bias;
  return x.dim() == 2 ? y : reshape(y, out_shape);
}

}  // namespace edat::nn
