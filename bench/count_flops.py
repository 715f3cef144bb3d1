#!/usr/bin/python3
"""Multiply-adds of one forward pass of a torchvision model (convolutions and linear layers, which are nearly all of
the work), for bench/run_cpu_suite.sh's physical limit: FLOPs = 2 x MACs for a forward, about 3 x that for a training
step (the backward computes two products per forward product: the input's and the weight's gradients).
    python3 bench/count_flops.py --arch resnet34 --batch 16 --size 112      prints: forward_gflop=N"""
import argparse

import torch
import torchvision

parser = argparse.ArgumentParser()
parser.add_argument("--arch", default="resnet34")
parser.add_argument("--batch", type=int, default=1)
parser.add_argument("--size", type=int, default=112)
args = parser.parse_args()

model = getattr(torchvision.models, args.arch)(num_classes=1).eval()
macs = 0


def count(module, inputs, output):
    global macs
    if isinstance(module, torch.nn.Conv2d):
        macs += output.numel() * module.in_channels // module.groups * module.kernel_size[0] * module.kernel_size[1]
    elif isinstance(module, torch.nn.Linear):
        macs += output.numel() * module.in_features


for m in model.modules():
    if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
        m.register_forward_hook(count)
with torch.no_grad():
    model(torch.zeros(args.batch, 3, args.size, args.size))
print(f"forward_gflop={2 * macs / 1e9:.3f}")
