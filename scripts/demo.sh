#!/usr/bin/env bash
# The README's main job, on a fresh machine with no download: generate the demo face dataset, train a ResNet-18 on it
# on the CPU (configs/demo.json, a few minutes on 2 cores), report its test MAE next to the always-predict-the-median
# baseline, and predict the age of one test image with the best weights.
#
#   bash scripts/demo.sh            # after scripts/setup.sh; BUILD_DIR=... for another build folder
#
# It writes demo-faces/ (the dataset, kept between runs) and runs/demo/ (replaced on each run).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bin="${BUILD_DIR:-build}/apps"

if [[ ! -f demo-faces/gt_avg_test.csv ]]; then
  "$bin/make_demo_faces" --out demo-faces --count 800 --size 64 --no-full-images
fi
rm -rf runs/demo
"$bin/train_resnet" --config configs/demo.json --data-root demo-faces --out runs/demo

image=demo-faces/test/$(sed -n 2p demo-faces/gt_avg_test.csv | cut -d, -f1)_face.jpg
true_age=$(sed -n 2p demo-faces/gt_avg_test.csv | cut -d, -f3)
echo "predict_age on one test image (apparent age $true_age):"
"$bin/predict_age" --weights runs/demo/best.safetensors "$image"

# The run must have learnt something: a test MAE clearly (20%) below the median baseline's.
field() { grep "\"$1\"" runs/demo/results.json | head -1 | tr -dc '0-9.\n'; }
mae=$(field mae) baseline=$(field median_baseline_mae)
echo "demo: test MAE $mae years vs $baseline for always predicting the median age; report: runs/demo/report.html"
awk -v mae="$mae" -v base="$baseline" 'BEGIN { exit !(mae < 0.8 * base) }' ||
  { echo "demo: the test MAE is not clearly below the baseline" >&2; exit 1; }
