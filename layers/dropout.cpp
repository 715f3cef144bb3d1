// Dropout: y = x mask, mask[i] = 0 with probability p, else 1 / (1 - p), so E[y] = x. The mask comes from the
// generator's counter-based stream (the same on CPU and CUDA); the mul op records the backward dx = dy mask.
#include "autograd/ops/common.h"
#include "layers/functional.h"
#include "layers/kernels.h"

namespace edat::nn {
using namespace ops_detail;

Tensor dropout(const Tensor& x, double p, bool training, Generator& generator) {
  check_floating("dropout", x);
  EDAT_CHECK(p >= 0 && p < 1, "dropout: p must be in [0, 1), got " << p << " (input " << x.desc() << ")");
  if (!training || p == 0) return x;
  Tensor mask = new_like(x, x.shape());
  const std::uint64_t first = generator.advance(static_cast<std::uint64_t>(x.numel()));
  layer_kernels(x.device()).dropout_mask(mask, p, generator.seed(), first);
  return x * mask;
}

}  // namespace edat::nn
