#include "layers/fold.h"

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "layers/modules.h"

namespace edat::nn {

namespace {

// conv absorbs bn: scale = gamma / sqrt(var + eps), shift = beta - mean scale (in f64).
void fold_pair(Conv2d& conv, BatchNorm2d& bn) {
  const Tensor gamma = bn.weight().to(DType::f64), beta = bn.bias().to(DType::f64);
  const Tensor mean = bn.running_mean().to(DType::f64), var = bn.running_var().to(DType::f64);
  const Tensor scale = gamma / sqrt(var + bn.eps());
  conv.absorb_affine(scale, beta - mean * scale);
  bn.mark_folded();
}

}  // namespace

std::int64_t fold_batch_norm(Module& root) {
  EDAT_CHECK(!root.is_training(), "fold_batch_norm: the module must be in evaluation mode (call eval() first): "
                                  "folding uses the running statistics that evaluation normalises with");
  NoGradGuard no_grad;
  std::int64_t folded = 0;
  for (auto& [name, module] : root.named_modules()) {
    Conv2d* previous = nullptr;
    for (auto& [child_name, child] : module->named_children()) {
      auto* bn = dynamic_cast<BatchNorm2d*>(child);
      if (bn != nullptr && previous != nullptr && !bn->folded() && previous->spec().out == bn->weight().numel()) {
        fold_pair(*previous, *bn);
        ++folded;
      }
      previous = dynamic_cast<Conv2d*>(child);
    }
  }
  return folded;
}

}  // namespace edat::nn
