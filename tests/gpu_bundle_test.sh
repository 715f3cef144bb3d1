#!/usr/bin/env bash
# The check of scripts/prepare_gpu_bundle.sh on this build, without packing a bundle: the CUDA-carrying test binaries
# (in TEST_DIR) and the apps given, with the libraries scripts/gpu_bundle_libs.sh would carry, need nothing that the
# GPU machine lacks.
#
#   bash tests/gpu_bundle_test.sh TEST_DIR APP...      (ctest: gpu_bundle_carries_its_libraries, CUDA builds only)
set -uo pipefail
here="$(dirname "${BASH_SOURCE[0]}")"
test_dir=${1:?usage: gpu_bundle_test.sh TEST_DIR APP...}
shift
# shellcheck source=scripts/cuda_tests.sh
source "$here/../scripts/cuda_tests.sh"
binaries=("$@")
for name in "${cuda_test_binaries[@]}"; do binaries+=("$test_dir/$name"); done
lib_dir=$(mktemp -d)
trap 'rm -rf "$lib_dir"' EXIT
bash "$here/../scripts/gpu_bundle_libs.sh" copy "$lib_dir" "${binaries[@]}" || exit 1
echo "carried: $(ls "$lib_dir" | paste -sd' ')"
# libjpeg (box decoding) was once missed by a hand-kept list: it must be carried.
[[ -e "$lib_dir/libjpeg.so.62" ]] || { echo "FAIL: libjpeg.so.62 is not carried"; exit 1; }
bash "$here/../scripts/gpu_bundle_libs.sh" check "$lib_dir" "${binaries[@]}"
status=$?
# ... and the check can fail: without libjpeg it must say so.
without=$(mktemp -d)
trap 'rm -rf "$lib_dir" "$without"' EXIT
cp -a "$lib_dir"/. "$without"/ && rm -f "$without/libjpeg.so.62"
if out=$(bash "$here/../scripts/gpu_bundle_libs.sh" check "$without" "${binaries[@]}"); then
  echo "FAIL: the check passed without libjpeg.so.62"
  exit 1
fi
grep -q 'needs libjpeg.so.62, which the bundle lacks' <<<"$out" || { echo "FAIL: unexpected report: $out"; exit 1; }
echo "ok: without libjpeg.so.62 the check fails naming it"
exit "$status"
