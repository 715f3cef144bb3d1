#!/usr/bin/env bash
# ctest's onnxruntime_matches_edat: tests/onnxruntime_test.py with the onnxruntime of tests/.venv
# (scripts/get_onnxruntime.sh), on real photos from ../shared. Exits 77 (ctest: skipped) when either is absent.
#
#   tests/onnxruntime_test.sh APPS_DIR TESTS_BIN_DIR SCRATCH_DIR SHARED_DATA SHIPPED_MODEL README
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
python=$here/.venv/bin/python
if [[ ! -x $python ]] || ! "$python" -c "import onnxruntime, PIL" 2>/dev/null; then
  echo "SKIP: no onnxruntime in tests/.venv: bash scripts/get_onnxruntime.sh installs it"
  exit 77
fi
if [[ ! -d $4/utkface/images || ! -f $4/faces/2008_002470.jpg ]]; then
  echo "SKIP: no real photos: $4/utkface/images and $4/faces are absent"
  exit 77
fi
exec "$python" "$here/onnxruntime_test.py" "$@"
