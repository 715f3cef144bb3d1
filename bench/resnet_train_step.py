#!/usr/bin/python3
"""PyTorch twin of bench/resnet_train_step.cpp: the same model (--arch: any torchvision.models builder edat has,
resnet18/34/50, mobilenet_v2, vgg16, vgg16_bn), shapes, L1 loss and optimizer (Adam by default, as train_resnet),
or an inference batch (--mode infer: eval mode, torch.inference_mode, eager as users run it), timed the same way.
Run with Debian's python3-torch (/usr/bin/python3) or the newest PyTorch (bench/.venv/bin/python, made by
bench/setup_peer_venv.sh): python3 bench/resnet_train_step.py --batch 16 --size 112."""
import argparse
import resource
import statistics
import time

import torch
import torchvision

parser = argparse.ArgumentParser()
parser.add_argument("--arch", default="resnet34")
parser.add_argument("--batch", type=int, default=16)
parser.add_argument("--size", type=int, default=112)
parser.add_argument("--steps", type=int, default=10)
parser.add_argument("--warmup", type=int, default=2)
parser.add_argument("--threads", type=int, default=2)
parser.add_argument("--mode", choices=["train", "infer"], default="train")
parser.add_argument("--optimizer", choices=["adam", "sgd"], default="adam")
parser.add_argument("--device", default="cpu")  # accepted for symmetry with the C++ program; CPU only here
args = parser.parse_args()

torch.set_num_threads(args.threads)
torch.manual_seed(0)
model = getattr(torchvision.models, args.arch)(num_classes=1)
x = torch.empty(args.batch, 3, args.size, args.size).uniform_(-2, 2)
target = torch.empty(args.batch, 1).uniform_(20, 60)
peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
where = f"{args.batch}, 3x{args.size}x{args.size}, cpu ({torch.get_num_threads()} threads)"

if args.mode == "infer":
    model.eval()
    times = []
    with torch.inference_mode():
        for step in range(args.warmup + args.steps):
            start = time.perf_counter()
            model(x)
            if step >= args.warmup:
                times.append(time.perf_counter() - start)
    median = statistics.median(times)
    print(f"pytorch {torch.__version__} {args.arch} infer batch, batch {where}: median {median:.4f} s over "
          f"{args.steps} batches ({args.batch / median:.1f} images/s), peak RSS {peak():.0f} MiB")
    raise SystemExit(0)

model.train()
optimizer = (torch.optim.Adam(model.parameters(), lr=1e-3) if args.optimizer == "adam"
             else torch.optim.SGD(model.parameters(), lr=1e-3))
times, phases = [], []
for step in range(args.warmup + args.steps):
    start = time.perf_counter()
    optimizer.zero_grad(set_to_none=True)
    loss = torch.nn.functional.l1_loss(model(x), target)
    forward_end = time.perf_counter()
    loss.backward()
    backward_end = time.perf_counter()
    optimizer.step()
    end = time.perf_counter()
    if step >= args.warmup:
        times.append(end - start)
        phases.append((forward_end - start, backward_end - forward_end, end - backward_end))
median = statistics.median(times)
print("pytorch phases: forward %.3f s, backward %.3f s, update %.3f s (medians)"
      % tuple(statistics.median(p[i] for p in phases) for i in range(3)))
print(f"pytorch {torch.__version__} {args.arch} train step ({args.optimizer}), batch {where}: median {median:.3f} s "
      f"over {args.steps} steps ({args.batch / median:.1f} images/s), peak RSS {peak():.0f} MiB")
