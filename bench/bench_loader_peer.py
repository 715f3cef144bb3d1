#!/usr/bin/python3
"""The PyTorch peer of bench_loader: the same pipeline with torchvision (PIL decode, RandomCrop(120),
RandomHorizontalFlip, ColorJitter(0.2, 0.2, 0.2, 0.05), ToTensor, Normalize) through torch's DataLoader, batch 64.
Prints images_per_second=N last (the median of --repeats runs of --images images, after one warm-up batch).

    /usr/bin/python3 bench/bench_loader_peer.py --data-root ../shared/data/utkface/images --workers 2
"""
import argparse
import glob
import os
import statistics
import time

import torch
import torchvision.transforms as T
from PIL import Image


class Folder(torch.utils.data.Dataset):
    def __init__(self, root, transform):
        self.paths = sorted(glob.glob(os.path.join(root, "*.jpg")))
        self.transform = transform

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        path = self.paths[i]
        age = float(os.path.basename(path).split("_")[0])
        return self.transform(Image.open(path).convert("RGB")), age


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-root", required=True)
    parser.add_argument("--img-size", type=int, default=120)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--images", type=int, default=6000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    transform = T.Compose([T.RandomCrop(args.img_size, pad_if_needed=True), T.RandomHorizontalFlip(),
                           T.ColorJitter(0.2, 0.2, 0.2, 0.05), T.ToTensor(),
                           T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    dataset = Folder(args.data_root, transform)
    loader = torch.utils.data.DataLoader(dataset, batch_size=64, shuffle=True, num_workers=args.workers,
                                         persistent_workers=args.workers > 0, prefetch_factor=2 if args.workers else None)
    print(f"torch {torch.__version__}: {len(dataset)} images, {args.workers} workers")
    batches = iter(loader)

    def next_batch():
        nonlocal batches
        try:
            return next(batches)
        except StopIteration:
            batches = iter(loader)
            return next(batches)

    rates = []
    for r in range(args.repeats):
        next_batch()
        done, start = 0, time.perf_counter()
        while done < args.images:
            done += len(next_batch()[0])
        seconds = time.perf_counter() - start
        rates.append(done / seconds)
        print(f"run {r + 1}: {done} images in {seconds:.3f} s: {rates[-1]:.0f} images/s")
    print(f"images_per_second={statistics.median(rates):.0f}")


if __name__ == "__main__":
    main()
