#!/usr/bin/env bash
# gpu_check.sh: everything edat checks on the GPU machine (one H200, no network), in ONE call of the device tool,
# well under 8 minutes: the CUDA tests, the training benchmark beside PyTorch, a short real training run, and a
# compact table printed last. Full logs go to $OUT (at most 8 files come back; this writes 6).
#
# ---- How it gets a working build: built HERE, carried THERE ----
# That machine has nvcc/CMake/ninja but none of edat's header or system dependencies, so the binaries are built on
# the development machine and carried: `bash scripts/prepare_gpu_bundle.sh` (CUDA on, static CUDA runtime, x86-64-v3
# CPU code, stripped, xz-packed: gpu_bundle/bundle.tar.xz, 6.5 MB; 41 MB unpacked) and
# `bash scripts/prepare_gpu_data.sh` (4,000 UTKFace faces at 128 px for the training run; gpu_data/, 18.3 MB). Both
# folders are ignored by git and travel through `carry`; with the tracked tree (4.3 MB) they make about 29 MB of the
# tool's 64 MiB.
# cuBLAS and cuDNN are NOT carried: LD_LIBRARY_PATH points at the lib folders of PyTorch's pip `nvidia` packages
# there. Their majors match the build's: torch 2.11.0+cu130 there (KINDS.md) ships libcublas.so.13 and cuDNN 9
# (nvidia-cudnn-cu13), and this build links libcublas.so.13 / libcudnn.so.9 (CUDA 13.0, cuDNN 9.19 here). If a later
# image has cu12 wheels (libcublas.so.12), the env step below says "not found" for libcublas.so.13: then either build
# here against a CUDA 12 toolkit, or configure there with nvcc after carrying the headers (Eigen, stb, GoogleTest,
# CLI11, nlohmann-json, turbojpeg) in a folder named in carry; the first is less work.
#
# ---- The device call (the tool `run`), after the two prepare scripts ran here ----
#   command:   bash scripts/gpu_check.sh
#   carry:     ["gpu_bundle", "gpu_data"]
#   timeout_s: 540
# Check first: `du -sb gpu_bundle gpu_data` plus the tracked files stay under 64 MiB (67108864 bytes).
#
# ---- Testing it without a GPU ----
#   GPU_CHECK_CPU=1 OUT=/tmp/gpu_check bash scripts/gpu_check.sh
# runs the same steps with --device cpu at tiny sizes (the CUDA tests skip); `bash -n` and shellcheck cover the rest.
#
# Settings (environment): OUT (log folder; default /tmp/gpu_check_out), GPU_BUNDLE (gpu_bundle), GPU_DATA
# (gpu_data), PYTHON (python3; in CPU mode the first python3 with torch), GPU_CHECK_CPU (1: the CPU mode above).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 2
repo=$(pwd)
OUT="${OUT:-/tmp/gpu_check_out}"
bundle="$repo/${GPU_BUNDLE:-gpu_bundle}"
data="$repo/${GPU_DATA:-gpu_data}"
cpu_mode="${GPU_CHECK_CPU:-0}"
python="${PYTHON:-python3}"
mkdir -p "$OUT"
started=$(date +%s)
summary=()  # rows of the final table: "step|result|detail"

elapsed() { echo $(($(date +%s) - started)); }
note() { summary+=("$1|$2|$3"); }
# Runs "$@" with the carried libraries and the CUDA libraries of PyTorch's packages visible (edat binaries only:
# python3 keeps its own environment).
edat() { LD_LIBRARY_PATH="$edat_libs" "$@"; }

if [[ "$cpu_mode" == 1 ]]; then
  device=cpu
  "$python" -c "import torch" 2>/dev/null || python=/usr/bin/python3  # Debian's python3-torch on the dev machine
  bench_args=(--batch 2 --sizes 32 --steps 2 --warmup 1 --timeout 120)
  train_args=(--arch resnet18 --batch-size 8 --img-size 32 --resize 36 --max-steps 3 --epochs 1 --workers 2)
else
  device=cuda
  # 20 timed steps after 5 warm-ups at each size; 55 s per process bounds the whole benchmark at 4 x 55 s.
  bench_args=(--batch 256 --sizes "224 120" --steps 20 --warmup 5 --timeout 55)
  # The training configuration of configs/utkface_coral.json's size (120 px from 128), from scratch, L1 + Adam.
  train_args=(--arch resnet34 --batch-size 128 --img-size 120 --resize 128 --epochs 3 --workers 12)
fi

# ---- 1. environment: GPU, PyTorch, libraries ----------------------------------------------------------------------
{
  echo "== gpu_check $(date -u +%FT%TZ) mode=$device repo=$repo"
  uname -a
  nvidia-smi 2>&1 | head -n 15 || echo "nvidia-smi: not available"
  "$python" -c "import torch, torchvision; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'cudnn', \
torch.backends.cudnn.version(), 'available', torch.cuda.is_available(), 'torchvision', torchvision.__version__)" 2>&1
} >"$OUT/env.log"

# The carried bundle is an xz tarball (scripts/prepare_gpu_bundle.sh); unpacked binaries in gpu_bundle/bin also do.
if [[ -f "$bundle/bundle.tar.xz" ]]; then
  rm -rf /tmp/edat_bundle && mkdir -p /tmp/edat_bundle && tar -C /tmp/edat_bundle -xJf "$bundle/bundle.tar.xz"
  bundle=/tmp/edat_bundle
fi
if [[ ! -d "$bundle/bin" ]]; then
  echo "gpu_check.sh: no $bundle/bundle.tar.xz: run scripts/prepare_gpu_bundle.sh here and carry gpu_bundle" |
    tee -a "$OUT/env.log" >&2
  exit 2
fi
# cuBLAS/cuDNN: every folder holding shared libraries under PyTorch's `nvidia` package root (cu13 wheels keep them
# in nvidia/cu13/lib, cuDNN in nvidia/cudnn/lib; older layouts in nvidia/*/lib).
nvidia_root=$("$python" -c "import nvidia.cudnn as m, os; print(os.path.dirname(os.path.dirname(m.__file__)))" \
  2>/dev/null)
nvidia_dirs=""
if [[ -n "$nvidia_root" ]]; then
  nvidia_dirs=$(find "$nvidia_root" -name 'lib*.so*' -printf '%h\n' | sort -u | paste -sd:)
fi
# Carried libraries only where this machine lacks its own (a newer system copy is the better one).
ldconfig_bin=$(command -v ldconfig || echo /sbin/ldconfig)  # /sbin may be off PATH
fallback=/tmp/edat_fallback_libs
rm -rf "$fallback" && mkdir -p "$fallback"
for lib in "$bundle"/lib/*; do
  [[ -e "$lib" ]] || continue
  "$ldconfig_bin" -p 2>/dev/null | grep -qF "$(basename "$lib") " || ln -s "$lib" "$fallback/"
done
edat_libs="${nvidia_dirs:+$nvidia_dirs:}$fallback${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
# The tests read fixtures by absolute paths under the folder the build was configured from: point it here.
src=$(cat "$bundle/source_dir" 2>/dev/null)
if [[ -n "$src" && "$src" != "$repo" && ! -e "$src" ]]; then
  mkdir -p "$(dirname "$src")" && ln -s "$repo" "$src"
fi
{
  echo "nvidia libs: ${nvidia_dirs:-none found}"
  echo "carried libs used: $(find "$fallback" -mindepth 1 -printf '%f ')"
  echo "fixtures: $src -> $(readlink -f "$src" 2>/dev/null)"
  for bin in "$bundle"/bin/*; do
    missing=$(edat ldd "$bin" | grep "not found")
    [[ -z "$missing" ]] || echo "MISSING for $(basename "$bin"): $missing"
  done
} >>"$OUT/env.log" 2>&1
if grep -q MISSING "$OUT/env.log"; then
  note env FAILED "unresolved libraries (env.log); see this script's header"
else
  note env ok "$(grep -o 'torch [^ ]* cuda [^ ]* cudnn [0-9]*' "$OUT/env.log" | head -n 1)"
fi

# ---- 2. CUDA tests ----------------------------------------------------------------------------------------------
# Binaries made of CUDA tests run whole; in the others only the tests named *Cuda* (the CPU ones run in CI).
# 140 s in all: each binary gets what is left, at most 60 s.
tests_deadline=$(($(date +%s) + 140))
for name in test_cuda_backend test_layers_cuda test_optim_cuda test_resnet test_losses test_optim_parity test_loader \
  test_tensor test_models; do
  bin="$bundle/bin/$name"
  [[ -x "$bin" ]] || { note "$name" MISSING "not in the bundle"; continue; }
  case "$name" in
    test_cuda_backend | test_layers_cuda | test_optim_cuda) filter='*' ;;
    *) filter='*Cuda*:*CUDA*' ;;
  esac
  left=$((tests_deadline - $(date +%s)))
  ((left > 60)) && left=60
  ((left < 5)) && { note "$name" SKIPPED "no time left in the test budget"; continue; }
  t0=$(date +%s)
  edat timeout "$left" "$bin" --gtest_filter="$filter" --gtest_color=no >"$OUT/test_$name.tmp" 2>&1
  rc=$?
  { echo "==== $name --gtest_filter=$filter (exit $rc)"; cat "$OUT/test_$name.tmp"; } >>"$OUT/tests.log"
  passed=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$OUT/test_$name.tmp")
  skipped=$(sed -n 's/^\[  SKIPPED \] \([0-9]*\) test.*/\1/p' "$OUT/test_$name.tmp")
  failed=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$OUT/test_$name.tmp")
  rm -f "$OUT/test_$name.tmp"
  result=ok
  ((rc == 124)) && result=TIMEOUT
  ((rc != 0 && rc != 124)) && result=FAILED
  note "$name" "$result" "${passed:-0} passed, ${skipped:-0} skipped, ${failed:-0} failed, $(($(date +%s) - t0)) s"
done

# ---- 3. training benchmark, edat beside PyTorch -------------------------------------------------------------------
EDAT_LD_LIBRARY_PATH="$edat_libs" bash bench/run_train_gpu.sh --device "$device" --bin "$bundle/bin/bench_train_gpu" \
  --python "$python" "${bench_args[@]}" >"$OUT/bench.log" 2>&1
bench_rc=$?
note bench "$([[ $bench_rc == 0 ]] && echo ok || echo FAILED)" "table below (bench.log)"

# ---- 4. a short real training run on the carried UTKFace subset -------------------------------------------------
run_dir=/tmp/gpu_check_run
rm -rf "$run_dir"
if [[ -f "$data/train.csv" ]]; then
  t0=$(date +%s)
  edat timeout 100 "$bundle/bin/train_resnet" --device "$device" --dataset csv --data-root "$data" \
    --train-csv "$data/train.csv" --loss l1 --optimizer adam --lr 1e-3 "${train_args[@]}" --out "$run_dir" \
    --progress-seconds 10 >"$OUT/train.log" 2>&1
  rc=$?
  cp "$run_dir/results.json" "$OUT/train_results.json" 2>/dev/null
  last_epoch=$(tail -n 1 "$run_dir/metrics.csv" 2>/dev/null)
  result=ok
  ((rc == 124)) && result=TIMEOUT
  ((rc != 0 && rc != 124)) && result=FAILED
  note train "$result" "$(($(date +%s) - t0)) s; last metrics.csv row: ${last_epoch:-none}"
else
  note train SKIPPED "no $data/train.csv (run scripts/prepare_gpu_data.sh here and carry gpu_data)"
fi

# ---- 5. the table, last ---------------------------------------------------------------------------------------
{
  echo
  echo "==== gpu_check summary: mode $device, $(elapsed) s, logs in $OUT"
  for row in "${summary[@]}"; do
    IFS='|' read -r step result detail <<<"$row"
    printf '%-18s %-8s %s\n' "$step" "$result" "$detail"
  done
  echo
  sed -n '/^config /,$p' "$OUT/bench.log"
} | tee "$OUT/summary.txt"
if printf '%s\n' "${summary[@]}" | grep -q '|\(FAILED\|TIMEOUT\|MISSING\)|'; then exit 1; fi
exit 0
