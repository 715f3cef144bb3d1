#!/usr/bin/env python3
"""PyTorch twin of bench/bench_train_gpu.cpp: torchvision ResNet (1 output), L1 loss, Adam lr 1e-3, a synthetic fp32
batch resident on the device, eager mode; the median step over --steps after --warmup, and the peak memory
(torch.cuda.max_memory_allocated on CUDA, peak RSS on the CPU). Prints one line in the same format as edat's:

  pytorch resnet34 device=cuda batch=256 size=224 steps=20 images_per_second=... step_ms=... peak_mib=...

TF32 is set explicitly to the values given (defaults: PyTorch's own, matmul off and cuDNN on), through the
fp32_precision API where this PyTorch has it (2.9 and later; it may refuse a mix with the legacy allow_tf32 flags),
else through allow_tf32. Works with PyTorch 1.13 (the CPU check here) and 2.x (the GPU machine).
"""
import argparse
import resource
import statistics
import sys
import time

import torch
import torchvision


def has_attr(obj, name: str) -> bool:
    """hasattr that also survives PyTorch 1.13's torch.backends.cuda.matmul, which raises AssertionError."""
    try:
        getattr(obj, name)
        return True
    except Exception:  # noqa: BLE001 (AttributeError or AssertionError, by version)
        return False


def set_tf32(matmul: bool, cudnn: bool) -> None:
    matmul_api = torch.backends.cuda.matmul
    conv_api = getattr(torch.backends.cudnn, "conv", None)
    if has_attr(matmul_api, "fp32_precision") and conv_api is not None and has_attr(conv_api, "fp32_precision"):
        matmul_api.fp32_precision = "tf32" if matmul else "ieee"
        conv_api.fp32_precision = "tf32" if cudnn else "ieee"
    else:
        matmul_api.allow_tf32 = matmul
        torch.backends.cudnn.allow_tf32 = cudnn


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="resnet34")
    parser.add_argument("--device", default="cuda", choices=["cpu", "cuda"])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--tf32-matmul", type=int, default=0, choices=[0, 1])
    parser.add_argument("--tf32-cudnn", type=int, default=1, choices=[0, 1])
    parser.add_argument("--cudnn-benchmark", type=int, default=1, choices=[0, 1])
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: PyTorch's default)")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        print("bench_train_gpu.py: error: --device cuda but torch.cuda.is_available() is False", file=sys.stderr)
        return 1
    if args.threads > 0:
        torch.set_num_threads(args.threads)

    set_tf32(bool(args.tf32_matmul), bool(args.tf32_cudnn))
    torch.backends.cudnn.benchmark = bool(args.cudnn_benchmark)
    device = torch.device(args.device)
    torch.manual_seed(0)
    model = getattr(torchvision.models, args.arch)(num_classes=1).to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.empty(args.batch, 3, args.size, args.size, device=device).uniform_(-2, 2)
    target = torch.empty(args.batch, 1, device=device).uniform_(20, 60)

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    times, loss = [], None
    for step in range(args.warmup + args.steps):
        sync()
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss = torch.nn.functional.l1_loss(model(x), target)
        loss.backward()
        optimizer.step()
        sync()
        if step >= args.warmup:
            times.append(time.perf_counter() - start)
    step_s = statistics.median(times)
    if device.type == "cuda":
        peak_mib = torch.cuda.max_memory_allocated(device) / 2**20
    else:
        peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(f"pytorch {args.arch} device={args.device} batch={args.batch} size={args.size} steps={args.steps} "
          f"images_per_second={args.batch / step_s:.1f} step_ms={step_s * 1e3:.2f} peak_mib={peak_mib:.0f} "
          f"tf32_matmul={args.tf32_matmul} tf32_cudnn={args.tf32_cudnn} final_loss={loss.item():.3f} "
          f"torch={torch.__version__}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
