#!/usr/bin/env bash
# export_onnx's command line: an export of the shipped model, and each bad input (missing weights, weights of an
# architecture edat does not know, an opset outside the range, an --out that cannot be written) as an error message
# naming it, exit code 1, and no file written. The ONNX graphs themselves: tests/test_onnx_export.cpp (ONNX's checker
# and shape inference) and tests/onnxruntime_test.py (onnxruntime's numbers).
#
#   tests/export_onnx_test.sh BIN_DIR SCRATCH_DIR SHIPPED_MODEL     (ctest runs it)
set -uo pipefail
bin=$1 scratch=$2 shipped=$3
source "$(dirname "${BASH_SOURCE[0]}")/script_test_lib.sh"  # fail, expect, $failures
rm -rf "$scratch" && mkdir -p "$scratch" && cd "$scratch" || exit 1

expect 0 "--opset.*13 to 17" -- "$bin/export_onnx" --help
expect 0 "wrote age.onnx: mobilenet_v2 \(l1\), opset 17, input image \[batch, 3, 112, 112\], outputs output and age" \
  -- "$bin/export_onnx" --weights "$shipped" --out age.onnx
[[ -s age.onnx ]] || fail "age.onnx was not written"
expect 0 "opset 13" -- "$bin/export_onnx" --weights "$shipped" --out age13.onnx --opset 13

expect 1 "export_onnx: error: .*missing.safetensors" -- "$bin/export_onnx" --weights missing.safetensors --out x.onnx
# A safetensors file whose metadata names an architecture edat does not have.
python3 - <<'PY' || fail "could not write alexnet.safetensors"
import json, struct
header = json.dumps({"__metadata__": {"edat.arch": "alexnet", "edat.loss": "l1", "edat.img_size": "64",
                                      "edat.resize": "73"},
                     "fc.weight": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}).encode()
with open("alexnet.safetensors", "wb") as f:
    f.write(struct.pack("<Q", len(header)) + header + b"\0\0\0\0")
PY
expect 1 "export_onnx: error: alexnet.safetensors: metadata edat.arch = 'alexnet' is not one of resnet18, resnet34" \
  -- "$bin/export_onnx" --weights alexnet.safetensors --out x.onnx
for opset in 12 18 -1; do
  expect 1 "export_onnx: error: ONNX opset $opset is not one edat writes: 13 to 17" \
    -- "$bin/export_onnx" --weights "$shipped" --out x.onnx --opset "$opset"
done
expect 1 "export_onnx: error: cannot write no_such_folder/x.onnx: No such file or directory" \
  -- "$bin/export_onnx" --weights "$shipped" --out no_such_folder/x.onnx
mkdir -p folder
expect 1 "export_onnx: error: cannot write folder: Is a directory" \
  -- "$bin/export_onnx" --weights "$shipped" --out folder
[[ ! -e x.onnx ]] || fail "a failed export left x.onnx behind"
expect 106 "--out is required" -- "$bin/export_onnx" --weights "$shipped"

echo "$failures failure(s)"
exit $((failures > 0))
