#!/usr/bin/python3
"""Writes the PyTorch parity fixtures of edat's tests into tests/fixtures/ (run with Debian's python3-torch:
`/usr/bin/python3 scripts/make_fixtures.py`). The test suite itself never needs Python: only these small files and
this script are committed.

resnet34_parity.safetensors
    torchvision's ResNet-34 with one output. Its weights are NOT stored: every state-dict tensor (in state-dict
    order, num_batches_tracked excepted) is drawn from edat's counter-based stream (tensor/random.h: splitmix64 of
    (seed, position), uniform = low + (high - low) * top-53-bits / 2^53), which this script reproduces exactly, so
    the C++ test rebuilds the same weights from the seed. Bounds per tensor: see `bounds()`. Stored: the input batch
    x (2x3x64x64), targets, the eval-mode output, then the train-mode output, its L1 loss, and for every parameter
    the gradient at 256 evenly spaced flat positions (`grad/NAME`) plus its L2 norm (`grad_norm/NAME`), and the
    running statistics after that training step at the same kind of positions (`after/NAME`).

resnet34_strided.pth, resnet34_strided_legacy.pth, resnet34_strided_parity.safetensors
    The same model with weights saved by torch.save, in the zip and the legacy format, small because every tensor is
    an overlapping strided view (as_strided) of a short storage of its own; the reader must honour storage offsets and
    strides. The parity file holds the outputs, loss and gradient samples for these weights, computed in f64: the
    overlapping views repeat values, which leaves some ReLU inputs within f32 rounding of zero, where f32 gradients
    of two correct implementations may legitimately differ.

Other fixtures (weights/, layers) are written by scripts/fixtures_*.py next to this one; this script runs them too.
"""
import json
import math
import os
import struct
import subprocess
import sys

import numpy as np
import torch
import torchvision

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "tests", "fixtures")
SEED = 2024
SAMPLES = 256
MASK = (1 << 64) - 1


# ---- edat's random stream (tensor/random.h), bit for bit ----
def stream_bits(seed, first, count):
    pos = np.arange(first, first + count, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = np.uint64((seed * 0xD1B54A32D192ED03) & MASK) + (pos + np.uint64(1)) * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def stream_uniform(seed, first, count, low, high):
    unit = (stream_bits(seed, first, count) >> np.uint64(11)).astype(np.float64) * 2.0**-53
    return low + (high - low) * unit  # two roundings, no fused multiply-add: as in C++


def bounds(name, shape):
    """Range of the uniform values of one state-dict tensor (the C++ test applies the same rule)."""
    if len(shape) == 4:  # convolution: the range of a uniform with kaiming_normal's fan_out std
        return -math.sqrt(6.0 / (shape[0] * shape[2] * shape[3])), math.sqrt(6.0 / (shape[0] * shape[2] * shape[3]))
    if name.startswith("fc."):
        b = 1.0 / math.sqrt(512)
        return -b, b
    if name.endswith("running_var") or name.endswith("weight"):
        return 0.5, 1.5
    return -0.2, 0.2  # batch-norm bias and running_mean


def sample_positions(n):
    """SAMPLES evenly spaced flat positions k (n - 1) // (m - 1) (all of them for short tensors)."""
    m = min(n, SAMPLES)
    if m == 1:
        return np.zeros(1, dtype=np.int64)
    return (np.arange(m, dtype=np.int64) * (n - 1)) // (m - 1)


# ---- safetensors writer (the format: u64 header size, JSON header, raw little-endian data) ----
def write_safetensors(path, tensors, metadata=None):
    header, blobs, offset = {}, [], 0
    for key in sorted(tensors):
        array = np.require(tensors[key], requirements="C")
        dtype = {np.float32: "F32", np.float64: "F64", np.int64: "I64", np.float16: "F16"}[array.dtype.type]
        blob = array.tobytes()
        header[key] = {"dtype": dtype, "shape": list(array.shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    if metadata:
        header["__metadata__"] = metadata
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def f32(t):
    return t.detach().cpu().numpy().astype(np.float32)


def run_parity(model, x, target):
    """Eval output, then one training forward/backward with L1: everything the C++ test compares."""
    out = {"x": f32(x), "target": f32(target)}
    model.eval()
    with torch.no_grad():
        out["eval_output"] = f32(model(x))
    model.train()
    y = model(x)
    loss = torch.nn.functional.l1_loss(y, target)
    loss.backward()
    out["train_output"] = f32(y)
    out["train_loss"] = f32(loss.reshape(()))
    for name, p in model.named_parameters():
        g = p.grad.detach().reshape(-1).double()
        out["grad/" + name] = g[sample_positions(g.numel())].numpy().astype(np.float32)
        out["grad_norm/" + name] = np.array(g.norm().item(), dtype=np.float64)
    for name, b in model.named_buffers():
        if b.dtype.is_floating_point:
            v = b.detach().reshape(-1)
            out["after/" + name] = v[sample_positions(v.numel())].numpy().astype(np.float32)
    return out


def seeded_weights(model):
    state = model.state_dict()
    first = 0
    for name, tensor in state.items():
        if not tensor.dtype.is_floating_point:
            continue
        low, high = bounds(name, tuple(tensor.shape))
        values = stream_uniform(SEED, first, tensor.numel(), low, high)
        first += tensor.numel()
        tensor.copy_(torch.from_numpy(values.astype(np.float32)).reshape(tensor.shape))


def strided_weights(model, generator):
    """Every float tensor becomes an as_strided view of a short storage of its own, scaled like bounds()."""
    state = {}
    for name, tensor in model.state_dict().items():
        if not tensor.dtype.is_floating_point:
            state[name] = tensor.clone()
            continue
        shape = tuple(tensor.shape)
        # Small prime strides, innermost first: the view reads storage[offset + sum(i_d * s_d)].
        primes = [1, 3, 7, 11][: len(shape)][::-1] if shape else []
        span = sum((n - 1) * s for n, s in zip(shape, primes)) + 1
        offset = 5
        low, high = bounds(name, shape)
        storage = torch.empty(offset + span).uniform_(low, high, generator=generator)
        state[name] = torch.as_strided(storage, shape, primes, offset) if shape else storage[offset].clone()
    model.load_state_dict(state)
    return state


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.set_num_threads(2)

    # x and the targets come from the stream too (positions after the weights' would also do; a fresh seed is simpler).
    x = torch.from_numpy(stream_uniform(SEED + 1, 0, 2 * 3 * 64 * 64, -2.0, 2.0).astype(np.float32)).reshape(2, 3, 64, 64)
    target = torch.tensor([[5.0], [-5.0]])

    model = torchvision.models.resnet34(num_classes=1)
    with torch.no_grad():
        seeded_weights(model)
    fixtures = run_parity(model, x, target)
    write_safetensors(os.path.join(OUT, "resnet34_parity.safetensors"), fixtures,
                      {"seed": str(SEED), "samples": str(SAMPLES), "torch": torch.__version__})

    model = torchvision.models.resnet34(num_classes=1)
    state = strided_weights(model, torch.Generator().manual_seed(7))
    torch.save(state, os.path.join(OUT, "resnet34_strided.pth"))
    torch.save(state, os.path.join(OUT, "resnet34_strided_legacy.pth"), _use_new_zipfile_serialization=False)
    fixtures = run_parity(model.double(), x.double(), target.double())
    write_safetensors(os.path.join(OUT, "resnet34_strided_parity.safetensors"), fixtures,
                      {"samples": str(SAMPLES), "torch": torch.__version__})

    for script in sorted(os.listdir(HERE)):
        if script.startswith("fixtures_") and script.endswith(".py"):
            subprocess.run([sys.executable, os.path.join(HERE, script)], check=True)
    for name in sorted(os.listdir(OUT)):
        path = os.path.join(OUT, name)
        if os.path.isfile(path):
            print(f"{name}: {os.path.getsize(path)} bytes")


if __name__ == "__main__":
    main()
