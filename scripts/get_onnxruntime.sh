#!/usr/bin/env bash
# onnxruntime from PyPI for the ONNX export test (tests/onnxruntime_test.py, ctest onnxruntime_matches_edat), in a
# virtual environment of its own, tests/.venv (ignored by git), at exact versions, with numpy and Pillow (the
# README's onnxruntime script reads images with it). Without it that test skips, saying so. .ci/run runs this
# script; by hand: bash scripts/get_onnxruntime.sh
#
# --no-deps: an InferenceSession needs numpy alone; onnxruntime's other requirements (coloredlogs, flatbuffers,
# packaging, protobuf, sympy) serve its tools, which the test does not use. About 35 MB of wheels.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
venv=tests/.venv
onnxruntime_version=1.20.1 numpy_version=2.1.3 pillow_version=11.0.0
check="import numpy, onnxruntime, PIL
found = (onnxruntime.__version__, numpy.__version__, PIL.__version__)
assert found == ('$onnxruntime_version', '$numpy_version', '$pillow_version'), found"

if [[ -x $venv/bin/python ]] && "$venv/bin/python" -c "$check" 2>/dev/null; then
  echo "get_onnxruntime.sh: $venv has onnxruntime $onnxruntime_version"
  exit 0
fi
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps \
  "onnxruntime==$onnxruntime_version" "numpy==$numpy_version" "pillow==$pillow_version"
"$venv/bin/python" -c "$check"
echo "get_onnxruntime.sh: $venv has onnxruntime $onnxruntime_version, numpy $numpy_version, Pillow $pillow_version"
