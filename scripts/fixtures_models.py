#!/usr/bin/python3
"""Writes the PyTorch parity fixtures of tests/test_models.cpp (MobileNetV2, VGG-16, VGG-16-BN) into tests/fixtures/
(run with Debian's python3-torch and python3-torchvision: `/usr/bin/python3 scripts/fixtures_models.py`;
scripts/make_fixtures.py runs it too). About 0.3 MB in all.

{mobilenet_v2,vgg16,vgg16_bn}_parity.safetensors
    torchvision's model with one output and dropout=0.0 (so that the train-mode step is deterministic; edat builds
    the same with its spec's dropout 0), weights NOT stored: every floating state-dict tensor in order is drawn from
    edat's counter-based stream with seed SEED and the ranges of `bounds()` below (fixtures_optim.py's, except for
    convolutions; tests/test_models.cpp applies the same rule). Input x (2x3x64x64) from stream SEED + 1 in [-2, 2],
    targets (5, -5). The metadata's `state_dict` lists every state-dict key with its shape, in order. Stored as make_fixtures.py's run_parity does: eval output, train output, L1 loss, for every
    parameter 256 evenly spaced gradient values plus the gradient's L2 norm, and the running statistics after the
    step. 64x64 rather than 32x32 so that the last batch norms see 2x2 maps (8 values per channel over the batch).
    Computed in f64 from the f32 weights (the C++ test too): in f32, torch and edat agree on the outputs to 1e-6 but
    their gradients differ by up to 2e-2 in the early layers of MobileNetV2 and VGG-16 (batch norm over 8 values per
    channel, and ReLU / max-pool decisions within rounding of a tie, amplify rounding differences), while VGG-16-BN's
    agree to 1e-5; in f64 all agree to about 1e-10. The biases of convolutions followed by batch norm (VGG-16-BN) and
    of batch norms whose output only reaches other batch norms through convolutions (MobileNetV2's projection batch
    norms: 1x1 convolutions keep the zero per-channel sum of batch norm's input gradient) have an exactly zero
    gradient; their stored values are rounding noise, which the test compares against a floor.
"""
import math
import os
import sys

import numpy as np
import torch
import torchvision

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import fixtures_optim  # noqa: E402
from make_fixtures import OUT, SAMPLES, run_parity, stream_uniform, write_safetensors  # noqa: E402

SEED = 2025
def bounds(name, shape):
    """Uniform range per state-dict tensor. Convolutions use the fan-IN (kaiming-uniform, gain sqrt 2), unlike the
    fan-out range of the ResNet fixtures: a depthwise 3x3 convolution with C channels has fan-out 9 C but fan-in 9, so
    fan-out weights shrink the signal about 3 C^0.5 times per block, and MobileNetV2's eval output (batch norm with
    fixed statistics) would no longer depend on its input."""
    if len(shape) == 4:
        b = math.sqrt(6.0 / (shape[1] * shape[2] * shape[3]))
        return -b, b
    return fixtures_optim.bounds(name, shape)  # linear layers, batch norms, biases


MODELS = {
    "mobilenet_v2": lambda: torchvision.models.mobilenet_v2(num_classes=1, dropout=0.0),
    "vgg16": lambda: torchvision.models.vgg16(num_classes=1, dropout=0.0),
    "vgg16_bn": lambda: torchvision.models.vgg16_bn(num_classes=1, dropout=0.0),
}


def main():
    torch.set_num_threads(2)
    shape = (2, 3, 64, 64)
    x = torch.from_numpy(stream_uniform(SEED + 1, 0, int(np.prod(shape)), -2.0, 2.0).astype(np.float32)).reshape(shape)
    target = torch.tensor([[5.0], [-5.0]])
    for name, make in MODELS.items():
        model = make()
        fixtures_optim.seeded_weights(model, SEED, bounds)
        fixtures = run_parity(model.double(), x.double(), target.double())
        path = os.path.join(OUT, f"{name}_parity.safetensors")
        # The state dict's keys and shapes in order, one "key d0,d1,..." line each: the C++ test compares its own.
        state_dict = "\n".join(k + " " + ",".join(map(str, v.shape)) for k, v in model.state_dict().items())
        write_safetensors(path, fixtures, {"seed": str(SEED), "samples": str(SAMPLES), "torch": torch.__version__,
                                           "torchvision": torchvision.__version__, "state_dict": state_dict})
        print(f"{name}_parity.safetensors: {os.path.getsize(path)} bytes, eval output {fixtures['eval_output'].ravel()}")


if __name__ == "__main__":
    main()
