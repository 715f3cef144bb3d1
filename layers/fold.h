// Batch-norm folding for inference. In evaluation mode a batch norm is a fixed affine map per channel, so the
// convolution that feeds it can absorb it: with s = gamma / sqrt(running_var + eps),
//   bn(conv(x)) = (W x + b - mean) s + beta = (s W) x + ((b - mean) s + beta),
// a convolution with weights s W and bias (b - mean) s + beta, and the batch norm becomes the identity. The result is
// the same up to rounding (s and the new bias are computed in f64 and rounded once), and inference skips one pass
// over every feature map. PyTorch does the same in torch.fx / TorchScript's freezing; eager PyTorch does not.
//
// Which convolution feeds which batch norm is read from the module tree by the convention every edat architecture
// keeps (ResNet's conv1/bn1, downsample and blocks, MobileNetV2's and VGG-BN's Sequentials): a Conv2d child registered
// immediately before a BatchNorm2d child of the same module, with as many outputs as the batch norm has features,
// feeds it. tests/test_fold.cpp checks every architecture's output against the unfolded network's.
#pragma once

#include <cstdint>

#include "layers/module.h"

namespace edat::nn {

// Folds every such pair in `root` (which must be in evaluation mode) and returns how many it folded. A folded
// batch norm refuses to train (BatchNorm2d::mark_folded).
std::int64_t fold_batch_norm(Module& root);

}  // namespace edat::nn
