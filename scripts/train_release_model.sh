#!/usr/bin/env bash
# Trains edat's shipped age model from the UTKFace data in ../shared, on the CPU, reproducibly (the same bits on
# every run: edat's CPU kernels are deterministic and every random choice comes from --seed):
#
#   1. crop_faces --align: dlib-aligned 160 px chips of the CORAL paper's UTKFace training list (13,147 faces aged
#      21-60), cut as predict_age cuts faces out of photos (the model records it: edat.face_crop);
#   2. train_resnet --config configs/utkface_release.json: ImageNet MobileNetV2 (scripts/get_pretrained.sh), fine-tuned
#      with L1 loss, a seeded 10% of the faces held out for validation;
#   3. copies the best epoch's weights to trained-models/ (and train_resnet's results.json beside them, as
#      NAME.results.json: the training metrics serve_age's GET /v1/model gives) and prints their sha256 beside the
#      committed one's.
#
#   bash scripts/train_release_model.sh        # about 70 minutes on the 2-core build machine
#
# Environment: BUILD_DIR (default build), SHARED (default ../shared), WORK (default runs/release), OUT (default
# trained-models/age_mobilenet_v2_utkface.safetensors).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
build=${BUILD_DIR:-build} shared=${SHARED:-../shared}/data/utkface work=${WORK:-runs/release}
out=${OUT:-trained-models/age_mobilenet_v2_utkface.safetensors}
[[ -f $shared/coral_utk_train.csv ]] || { echo "train_release_model: $shared/coral_utk_train.csv not found (UTKFace in ../shared)" >&2; exit 1; }
[[ -x $build/apps/train_resnet ]] || { echo "train_release_model: $build/apps/train_resnet is missing: run scripts/setup.sh" >&2; exit 1; }
[[ -f pretrained/mobilenet_v2_imagenet.safetensors && -f pretrained/shape_predictor_5_face_landmarks.dat ]] ||
  bash scripts/get_pretrained.sh

rm -rf "$work"
mkdir -p "$work"
start=$(date +%s)
"$build/apps/crop_faces" --dataset utkface --data-root "$shared/images" --csv "$shared/coral_utk_train.csv" \
  --out "$work/faces" --align --size 160 --workers 2
"$build/apps/train_resnet" --config configs/utkface_release.json --data-root "$work/faces" \
  --train-csv "$work/faces/faces.csv" --out "$work/train" --progress-seconds 60
mkdir -p "$(dirname "$out")"
cp "$work/train/best.safetensors" "$out"
cp "$work/train/results.json" "${out%.safetensors}.results.json"
echo "train_release_model: done in $(( ($(date +%s) - start) / 60 )) min: $out"
sha256sum "$out"
if [[ -f trained-models/SHA256SUMS ]]; then
  echo "committed:"; grep "$(basename "$out")" trained-models/SHA256SUMS || true
fi
