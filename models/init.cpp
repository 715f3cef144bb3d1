#include "models/init.h"

#include <cmath>

#include "autograd/grad_mode.h"
#include "layers/init_mode.h"
#include "tensor/factory.h"

namespace edat::models {

std::shared_ptr<nn::Conv2d> kaiming_conv(const nn::Conv2dSpec& spec, Generator& generator) {
  auto layer = std::make_shared<nn::Conv2d>(spec, generator);
  const double std = std::sqrt(2.0 / static_cast<double>(spec.out * spec.kernel * spec.kernel));
  if (!nn::is_init_enabled()) return layer;  // SkipInitGuard: its tensors are about to be loaded
  NoGradGuard no_grad;
  layer->weight().copy_(normal(layer->weight().shape(), 0.0, std, generator));
  if (spec.bias) layer->bias().copy_(zeros_like(layer->bias()));
  return layer;
}

std::shared_ptr<nn::Linear> small_normal_linear(std::int64_t in, std::int64_t out, Generator& generator) {
  auto layer = std::make_shared<nn::Linear>(in, out, true, generator);
  if (!nn::is_init_enabled()) return layer;  // SkipInitGuard: its tensors are about to be loaded
  NoGradGuard no_grad;
  layer->weight().copy_(normal(layer->weight().shape(), 0.0, 0.01, generator));
  layer->bias().copy_(zeros_like(layer->bias()));
  return layer;
}

}  // namespace edat::models
