// Lesson 4 (docs/learn/04-resnet.md): a residual block taken apart, then ResNet-34 walked child by child on one
// 224 x 224 image with the shape after each stage and the parameters each holds.
#include <cstdio>
#include <string>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "learn/lesson.h"
#include "models/resnet.h"
#include "tensor/factory.h"

using namespace edat;
using learn::expect;

namespace {

std::int64_t parameter_count(const nn::Module& module) {
  std::int64_t count = 0;
  for (const auto& [name, tensor] : module.named_parameters()) count += tensor.numel();
  return count;
}

std::string shape_of(const Tensor& t) { return shape_str(t.shape()); }

}  // namespace

int main() {
  NoGradGuard no_grad;  // this lesson only runs forward passes
  Generator generator(0);

  // ---- one residual block: out = relu(bn2(conv2(relu(bn1(conv1(x))))) + identity) ----
  // The first block of layer2 halves the resolution and doubles the channels, so the identity cannot be added as
  // it is: a downsample branch (1x1 convolution, stride 2, + batch norm) brings it to the same shape.
  auto downsample = std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::Conv2d>(nn::Conv2dSpec{.in = 64, .out = 128, .kernel = 1, .stride = 2, .bias = false},
                                   generator),
      std::make_shared<nn::BatchNorm2d>(128)});
  models::BasicBlock block(64, 128, 2, downsample, generator);
  block.eval();
  Tensor x = normal({1, 64, 8, 8}, 0, 1, generator);
  nn::Module& relu = *block.child("relu");
  Tensor main_path =
      (*block.child("bn2"))((*block.child("conv2"))(relu((*block.child("bn1"))((*block.child("conv1"))(x)))));
  Tensor identity = (*block.child("downsample"))(x);
  std::printf("block 64 -> 128, stride 2: x %s, main path %s, identity (downsampled) %s\n", shape_of(x).c_str(),
              shape_of(main_path).c_str(), shape_of(identity).c_str());
  expect(learn::max_abs_diff(block(x), relu(main_path + identity)) == 0,
         "BasicBlock::forward = relu(main path + downsampled identity), computed from its children");

  // Why residual: with the last batch norm's weight at 0 the main path adds nothing and the block passes its input
  // through (relu of a ReLU'd input is itself). A deep stack of such blocks starts near the identity, and the
  // gradient reaches early layers through the "+ identity" paths undiminished.
  models::BasicBlock plain(64, 64, 1, nullptr, generator);
  plain.eval();
  for (const auto& [name, tensor] : plain.child("bn2")->named_parameters())
    if (name == "weight") tensor.copy_(zeros({64}));
  Tensor relu_x = relu(x);
  expect(learn::max_abs_diff(plain(relu_x), relu_x) == 0, "with bn2.weight = 0 a block is the identity");

  // ---- ResNet-34: the shape walk, child by child, as ResNet::features and forward run them ----
  auto model = models::resnet34(1000, generator);
  model->eval();
  Tensor y = normal({1, 3, 224, 224}, 0, 1, generator);
  std::printf("\nResNet-34 on one 224 x 224 image:\n%-9s %-20s %12s\n", "child", "output shape", "parameters");
  std::printf("%-9s %-20s %12s\n", "input", shape_of(y).c_str(), "");
  std::int64_t total = 0;
  for (const auto& [name, child] : model->named_children()) {
    if (name == "fc") y = flatten(y, 1);  // ResNet::features flattens the pooled (N, 512, 1, 1) map
    y = (*child)(y);
    const std::int64_t count = parameter_count(*child);
    total += count;
    std::printf("%-9s %-20s %12lld\n", name.c_str(), shape_of(y).c_str(), static_cast<long long>(count));
  }
  std::printf("%-9s %-20s %12lld\n", "total", "", static_cast<long long>(total));
  expect(shape_of(y) == "[1, 1000]", "ResNet-34 maps (1, 3, 224, 224) to (1, 1000)");
  expect(total == 21797672 && total == parameter_count(*model), "ResNet-34 has 21,797,672 parameters (torchvision's)");
  expect(parameter_count(*model->child("layer4")) == 13114368, "layer4 holds 13,114,368 of them: 60%");
  return learn::finish("lesson 4");
}
