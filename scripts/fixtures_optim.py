#!/usr/bin/python3
"""Writes the optimizer, schedule and loss fixtures of tests/test_optim_parity.cpp, tests/test_schedules.cpp and
tests/test_losses.cpp into tests/fixtures/ (run with Debian's python3-torch:
`/usr/bin/python3 scripts/fixtures_optim.py`; scripts/make_fixtures.py runs it too). About 0.7 MB in all.

No weights or batches are stored: as in make_fixtures.py they are drawn from edat's counter-based stream, which this
script reproduces bit for bit (`stream_uniform`), so the C++ tests rebuild them from the seeds. Weight ranges per
state-dict tensor: `bounds()` (the C++ tests apply the same rule).

optim_cnn.safetensors
    A small CNN with batch norm (`small_cnn()`: conv 3->8, bn, relu, maxpool 2, conv 8->16, bn, relu, adaptive avg
    pool, flatten, linear 16->1; the convolutions have no bias, which batch norm would cancel: its gradient is
    rounding noise, and Adam turns noise into full-size steps), batches of 4x3x16x16 with MSE against targets, in f32,
    trained five steps by each optimizer of OPTIMIZERS with a StepLR(step_size=2, gamma=0.5) stepped after every
    optimizer step. Stored per optimizer: `CFG/lr` (get_last_lr() before the first step and after each, f64),
    `CFG/loss` (each step's loss), and after each step s = 1..5 every parameter and floating buffer whole: `CFG/s/NAME`.
optim_resnet18.safetensors
    torchvision's ResNet-18 with one output at 32x32 (batches 4x3x32x32, L1 loss), same protocol, for sgd, adam,
    adamw (learning rates RESNET_LR), and `partial_sgd`: the sgd run with only layer4 and fc trainable and every other
    batch norm in eval mode (edat's transfer mode partial {layer4, fc}). In f64: at 32x32 layer4 sees 1x1 maps and its
    batch norms 4 values per channel, and in f32 two correct implementations drift apart within a few steps (measured
    here: torch f32 against torch f64 differ by 1e-2 after 2-5 steps, from ReLU and L1 sign flips and Adam's
    normalisation of near-zero gradients); in f64 a 1e-12 perturbation of the weights grows to at most 5e-6 in five
    steps. Stored after each step, for every parameter and floating buffer in state-dict order: SAMPLES evenly spaced
    values (positions k (n - 1) // (SAMPLES - 1), all of a shorter tensor), concatenated (`CFG/s/samples`, f64), and
    the L2 norms (`CFG/s/norms`).
lr_schedules.safetensors
    get_last_lr() over many epochs for the schedules in SCHEDULES (f64), for the bit-exact comparison.
losses.safetensors
    Smooth-L1 loss values and prediction gradients for several beta (f64), and the CORAL head (coral-cnn's formula:
    logits = x w^T + b, loss = -mean_n sum_k [logsigmoid(l) y + (logsigmoid(l) - l)(1 - y)] imp_k) with its loss,
    gradients and predictions (f64).
"""
import math
import os
import sys

import numpy as np
import torch
import torchvision

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from make_fixtures import stream_uniform, write_safetensors  # noqa: E402  (edat's random stream, safetensors)

OUT = os.path.join(HERE, "..", "tests", "fixtures")
SEED = 4242          # weights
BATCH_SEED = 5000    # batch s: x from stream BATCH_SEED + 2 s, targets from BATCH_SEED + 2 s + 1
STEPS = 5
SAMPLES = 32

# The optimizers of each model (learning rates: the small CNN's, and the ResNet-18's, smaller: see the module doc).
OPTIMIZERS = {
    "sgd": lambda p, lr=0.05: torch.optim.SGD(p, lr=lr, momentum=0.9, weight_decay=1e-3),
    "sgd_nesterov": lambda p, lr=0.05: torch.optim.SGD(p, lr=lr, momentum=0.9, nesterov=True, weight_decay=1e-3),
    "adam": lambda p, lr=1e-2: torch.optim.Adam(p, lr=lr, weight_decay=1e-3),
    "adamw": lambda p, lr=1e-2: torch.optim.AdamW(p, lr=lr, weight_decay=0.05),
}
RESNET_LR = {"sgd": 0.01, "adam": 1e-3, "adamw": 1e-3}


def bounds(name, shape):
    """Range of the uniform values of one state-dict tensor (tests/test_optim_parity.cpp applies the same rule)."""
    if len(shape) == 4:  # convolution: the range of a uniform with kaiming_normal's fan_out std
        b = math.sqrt(6.0 / (shape[0] * shape[2] * shape[3]))
        return -b, b
    if len(shape) == 2:  # linear: PyTorch's default U(-1/sqrt(in), 1/sqrt(in))
        b = 1.0 / math.sqrt(shape[1])
        return -b, b
    if name.endswith("running_var") or name.endswith("weight"):
        return 0.5, 1.5
    return -0.2, 0.2  # biases and running_mean


CHUNK = 1 << 24  # draws per stream_uniform call: VGG's classifier.0 (103M values) in one call would need ~4 GB


def seeded_weights(model, seed, bounds=bounds):
    """Every floating state-dict tensor in order from stream `seed`, in the range bounds(name, shape) gives (drawn in
    chunks, which changes nothing: each value is a function of its position)."""
    first = 0
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if not tensor.dtype.is_floating_point:
                continue
            low, high = bounds(name, tuple(tensor.shape))
            flat = tensor.view(-1)
            for start in range(0, flat.numel(), CHUNK):
                count = min(CHUNK, flat.numel() - start)
                values = stream_uniform(seed, first + start, count, low, high).astype(np.float32)
                flat[start:start + count] = torch.from_numpy(values)
            first += flat.numel()


def batch(step, shape):
    n = shape[0]
    x = stream_uniform(BATCH_SEED + 2 * step, 0, int(np.prod(shape)), -2.0, 2.0).astype(np.float32).reshape(shape)
    t = stream_uniform(BATCH_SEED + 2 * step + 1, 0, n, -2.0, 2.0).astype(np.float32).reshape(n, 1)
    return torch.from_numpy(x), torch.from_numpy(t)


def small_cnn():
    nn = torch.nn
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(8, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 1))


def positions(n):
    m = min(n, SAMPLES)
    return np.zeros(1, dtype=np.int64) if m == 1 else (np.arange(m, dtype=np.int64) * (n - 1)) // (m - 1)


def compared(model):
    """Parameters, then floating buffers, in state-dict order."""
    return [(k, v) for k, v in model.state_dict().items() if v.dtype.is_floating_point]


def train(model, optimizer_name, input_shape, loss_fn, trainable=None, lr=None, dtype=torch.float32):
    """Five steps; returns the lr sequence, the losses and the state after each step."""
    model.to(dtype)
    if trainable is not None:
        for name, p in model.named_parameters():
            p.requires_grad_(any(name == t or name.startswith(t + ".") for t in trainable))
    make = OPTIMIZERS[optimizer_name]
    optimizer = make(model.parameters()) if lr is None else make(model.parameters(), lr)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    model.train()
    if trainable is not None:  # frozen batch norms stay in eval mode
        for name, m in model.named_modules():
            if isinstance(m, torch.nn.BatchNorm2d) and not any(name.startswith(t + ".") for t in trainable):
                m.eval()
    lrs, losses, states = [scheduler.get_last_lr()[0]], [], []
    for step in range(STEPS):
        x, t = (v.to(dtype) for v in batch(step, input_shape))
        optimizer.zero_grad()
        loss = loss_fn(model(x), t)
        loss.backward()
        optimizer.step()
        scheduler.step()
        lrs.append(scheduler.get_last_lr()[0])
        losses.append(loss.item())
        states.append({k: v.detach().clone() for k, v in compared(model)})
    return np.array(lrs, dtype=np.float64), np.array(losses, dtype=np.float64), states


def cnn_fixture():
    out = {}
    for name in OPTIMIZERS:
        torch.manual_seed(0)
        model = small_cnn()
        seeded_weights(model, SEED)
        lrs, losses, states = train(model, name, (4, 3, 16, 16), torch.nn.functional.mse_loss)
        out[f"{name}/lr"], out[f"{name}/loss"] = lrs, losses
        for s, state in enumerate(states, start=1):
            for key, value in state.items():
                out[f"{name}/{s}/{key}"] = value.numpy().astype(np.float32)
    return out


def resnet18_fixture():
    out = {}
    runs = [("sgd", "sgd", None), ("adam", "adam", None), ("adamw", "adamw", None),
            ("partial_sgd", "sgd", ["layer4", "fc"])]
    for label, name, trainable in runs:
        model = torchvision.models.resnet18(num_classes=1)
        seeded_weights(model, SEED)
        lrs, losses, states = train(model, name, (4, 3, 32, 32), torch.nn.functional.l1_loss, trainable,
                                    RESNET_LR[name], torch.float64)
        out[f"{label}/lr"], out[f"{label}/loss"] = lrs, losses
        for s, state in enumerate(states, start=1):
            samples, norms = [], []
            for key, value in state.items():
                flat = value.reshape(-1).double()
                samples.append(flat[positions(flat.numel())].numpy())
                norms.append(flat.norm().item())
            out[f"{label}/{s}/samples"] = np.concatenate(samples)
            out[f"{label}/{s}/norms"] = np.array(norms, dtype=np.float64)
    return out


SCHEDULES = {
    # name: (base lr, epochs, factory)
    "step_30_0.1": (0.1, 100, lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=30, gamma=0.1)),
    "step_3_0.5": (0.05, 40, lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5)),
    "multistep": (0.1, 30, lambda o: torch.optim.lr_scheduler.MultiStepLR(o, milestones=[3, 5, 5, 9, 20], gamma=0.3)),
    "cosine_w5_t50": (1e-3, 60, lambda o: warmup_cosine(o, 5, 50, 0.01, 0.0)),
    "cosine_w3_t20_eta": (0.1, 50, lambda o: warmup_cosine(o, 3, 20, 1.0 / 3, 1e-4)),
    "cosine_w0_t10": (0.1, 35, lambda o: warmup_cosine(o, 0, 10, 1.0 / 3, 0.0)),
    "cosine_w1_t7": (0.3, 20, lambda o: warmup_cosine(o, 1, 7, 0.5, 0.01)),
}


def warmup_cosine(optimizer, warmup, total, start_factor, eta_min):
    cosine = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total - warmup, eta_min=eta_min)
    if warmup == 0:
        return cosine
    linear = torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=start_factor, total_iters=warmup)
    return torch.optim.lr_scheduler.SequentialLR(optimizer, [linear, cosine], milestones=[warmup])


def schedules_fixture():
    import warnings
    out = {}
    for name, (lr, epochs, factory) in SCHEDULES.items():
        optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # CosineAnnealingLR.step(0) warns that epochs are deprecated
            scheduler = factory(optimizer)
            lrs = [scheduler.get_last_lr()[0]]
            for _ in range(epochs):
                optimizer.step()
                scheduler.step()
                lrs.append(scheduler.get_last_lr()[0])
        out[name] = np.array(lrs, dtype=np.float64)
    return out


def losses_fixture():
    out = {}
    pred = torch.from_numpy(stream_uniform(77, 0, 64, -3.0, 3.0)).requires_grad_()
    target = torch.from_numpy(stream_uniform(78, 0, 64, -3.0, 3.0))
    out["smooth_l1/prediction"], out["smooth_l1/target"] = pred.detach().numpy(), target.numpy()
    for beta in (1.0, 0.5, 2.0, 0.0):
        pred.grad = None
        loss = torch.nn.functional.smooth_l1_loss(pred, target, beta=beta)
        loss.backward()
        out[f"smooth_l1/{beta}/loss"] = np.array(loss.item(), dtype=np.float64)
        out[f"smooth_l1/{beta}/grad"] = pred.grad.numpy().copy()

    # CORAL: 8 samples, 5 features, K = 7 classes (6 levels).
    n, d, k = 8, 5, 7
    x = torch.from_numpy(stream_uniform(80, 0, n * d, -2.0, 2.0).reshape(n, d)).requires_grad_()
    w = torch.from_numpy(stream_uniform(81, 0, d, -1.0, 1.0).reshape(1, d)).requires_grad_()
    b = torch.from_numpy(np.sort(stream_uniform(82, 0, k - 1, -2.0, 2.0))[::-1].copy()).requires_grad_()
    labels = np.array([0, 6, 3, 2, 5, 1, 4, 3], dtype=np.int64)
    levels = torch.tensor([[1.0] * int(lab) + [0.0] * (k - 1 - int(lab)) for lab in labels], dtype=torch.float64)
    importance = torch.from_numpy(stream_uniform(83, 0, k - 1, 0.5, 1.5))
    out.update({"coral/x": x.detach().numpy(), "coral/weight": w.detach().numpy(), "coral/bias": b.detach().numpy(),
                "coral/labels": labels.astype(np.float64), "coral/levels": levels.numpy(),
                "coral/importance": importance.numpy()})
    for tag, imp in (("plain", torch.ones(k - 1, dtype=torch.float64)), ("weighted", importance)):
        x.grad = w.grad = b.grad = None
        logits = x @ w.t() + b  # coral-cnn: self.fc(x) + self.linear_1_bias
        logsig = torch.nn.functional.logsigmoid(logits)
        loss = torch.mean(-torch.sum((logsig * levels + (logsig - logits) * (1 - levels)) * imp, dim=1))
        loss.backward()
        out[f"coral/{tag}/logits"] = logits.detach().numpy()
        out[f"coral/{tag}/loss"] = np.array(loss.item(), dtype=np.float64)
        out[f"coral/{tag}/grad_x"] = x.grad.numpy().copy()
        out[f"coral/{tag}/grad_weight"] = w.grad.numpy().copy()
        out[f"coral/{tag}/grad_bias"] = b.grad.numpy().copy()
        out[f"coral/{tag}/predict"] = torch.sum(torch.sigmoid(logits) > 0.5, dim=1).double().numpy()
    return out


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.set_num_threads(2)
    meta = {"torch": torch.__version__, "seed": str(SEED), "batch_seed": str(BATCH_SEED), "samples": str(SAMPLES)}
    write_safetensors(os.path.join(OUT, "optim_cnn.safetensors"), cnn_fixture(), meta)
    write_safetensors(os.path.join(OUT, "optim_resnet18.safetensors"), resnet18_fixture(), meta)
    write_safetensors(os.path.join(OUT, "lr_schedules.safetensors"), schedules_fixture(), {"torch": torch.__version__})
    write_safetensors(os.path.join(OUT, "losses.safetensors"), losses_fixture(), {"torch": torch.__version__})


if __name__ == "__main__":
    main()
