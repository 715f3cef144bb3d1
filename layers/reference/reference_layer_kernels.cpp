// The reference kernels' instance and the dropout mask (the other kernels live in conv2d_reference.cpp,
// batch_norm_reference.cpp and pooling_reference.cpp).
#include "layers/reference/reference_layer_kernels.h"

#include "layers/cpu/cpu_layer_kernels.h"

namespace edat::nn::reference {

LayerKernels& reference_layer_kernels() {
  static ReferenceLayerKernels kernels;
  return kernels;
}

// The mask is defined by random.h's counter-based stream, element by element (mask[i] = 1 / (1 - p) where draw
// first + i is >= p, else 0): the CPU kernel is that definition already, so the reference is the same code.
void ReferenceLayerKernels::dropout_mask(Tensor& mask, double p, std::uint64_t seed, std::uint64_t first) {
  cpu_impl::cpu_layer_kernels().dropout_mask(mask, p, seed, first);
}

}  // namespace edat::nn::reference
