#!/usr/bin/env bash
# Runs the CPU training-step benchmark (ResNet-34 by default) of edat and of PyTorch (Debian's python3-torch) on the
# same cores, then prints the ratio edat / PyTorch of median step time and of peak resident memory last.
#   bash bench/run_resnet_cpu.sh [--arch resnet34|mobilenet_v2|vgg16|vgg16_bn|... --batch 16 --size 112 --steps 10]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
args=("$@")
edat_out=$(build/bench/resnet_train_step "${args[@]}" 2>/dev/null)
echo "$edat_out"
edat_line=$(tail -n 1 <<<"$edat_out")
torch_out=$(/usr/bin/python3 bench/resnet_train_step.py "${args[@]}")
echo "$torch_out"
torch_line=$(tail -n 1 <<<"$torch_out")
python3 - "$edat_line" "$torch_line" <<'PY'
import re, sys
def parse(line):
    return float(re.search(r"median ([0-9.]+) s", line).group(1)), float(re.search(r"peak RSS ([0-9.]+) MiB", line).group(1))
(et, em), (pt, pm) = parse(sys.argv[1]), parse(sys.argv[2])
print(f"edat / pytorch: step time {et / pt:.2f}x, peak memory {em / pm:.2f}x")
PY
