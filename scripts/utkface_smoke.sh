#!/usr/bin/env bash
# Real-data check: trains a ResNet on the real UTKFace faces in ../shared (the CORAL paper's training list, ages
# 21-60, with a seeded 10% held out for validation) on the CPU, at a reduced size and for a few epochs, then prints the
# validation MAE next to the always-predict-the-median baseline. Not part of the unit tests; results go to
# docs/results.md.
#
#   bash scripts/utkface_smoke.sh                 # ResNet-18, 64 px, 3 epochs (about 15-25 minutes on 2 cores)
#   EPOCHS=5 IMG_SIZE=96 ARCH=resnet34 bash scripts/utkface_smoke.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
shared=${SHARED:-../shared}/data/utkface
[[ -f $shared/coral_utk_train.csv ]] || { echo "utkface_smoke: $shared/coral_utk_train.csv not found" >&2; exit 1; }
arch=${ARCH:-resnet18} size=${IMG_SIZE:-64} epochs=${EPOCHS:-3}
out=${OUT_DIR:-runs/utkface_smoke}
rm -rf "$out"
"${BUILD_DIR:-build}/apps/train_resnet" --dataset utkface --data-root "$shared/images" \
  --train-csv "$shared/coral_utk_train.csv" --valid-fraction 0.1 --arch "$arch" --img-size "$size" \
  --resize $((size * 8 / 7)) --epochs "$epochs" --batch-size 32 --lr 0.001 --lr-step-size $((epochs - 1 > 0 ? epochs - 1 : 1)) \
  --workers 2 --seed 0 --out "$out" --progress-seconds 60
grep -E '"(mae|median_baseline_mae|median_age|images)"' "$out/results.json"
