#!/usr/bin/env bash
# gpu_check.sh: everything edat checks on the GPU machine (one H200, no network), in ONE call of the device tool of
# at most 8 minutes, and a run that diagnoses itself: when something breaks, the logs that come back say why, so the
# next call can fix it instead of guessing. Full logs go to $OUT; a compact table is printed last.
#
# ---- The steps, and why each is there ----
#  1. env        uname -r, nvidia-smi, PyTorch's versions; the pip `nvidia` library folders, found through
#                nvidia.__path__ (a namespace package has no __file__); cuDNN's sub-libraries and NVRTC listed there;
#                `cuda_info`: the driver's and runtime's CUDA versions, cuDNN loaded beside cuDNN compiled against and
#                the runtime cuDNN was built for, cuBLAS's version, each device (name, sm, SM count, memory).
#  2. linking    every bundled binary run once with LD_BIND_NOW=1 (an unresolved symbol fails here, not mid-test);
#                `cuobjdump --list-elf` must show sm_90 code in the binaries.
#  3. preflight  one tiny CUDA test with EDAT_REQUIRE_GPU=1. If it fails (no device, driver too old, a library
#                missing), its reason is printed and every later GPU step is skipped: a run without a usable GPU
#                must not spend minutes producing skips that look like passes.
#  4. tests      the CUDA tests (scripts/cuda_tests.sh) with EDAT_REQUIRE_GPU=1: a test that would skip for lack of a
#                device fails instead (tests/test_util.h), and "no CUDA device" counts as a failure in the table.
#                The table names every failed test and the worst gradient error of each PyTorch-parity test.
#  5. reruns     each failed test again, alone, with CUDA_LAUNCH_BLOCKING=1 (the error lands on the launch that
#                caused it) and cuDNN's debug log (CUDNN_LOGLEVEL_DBG=3), appended to rerun.log.
#  6. sanitizer  compute-sanitizer memcheck on the elementwise, reduction, transpose, pooling, dropout and batch-norm
#                tests, racecheck on the reductions and transpose, synccheck on gradient clipping; each bounded in
#                time, and skipped cleanly where the sanitizer is absent or cannot attach.
#  7. bench      bench_train_gpu beside PyTorch (bench/run_train_gpu.sh) at 120 px only (BENCH_SIZES), so that the
#                sanitizers fit; once that passes, BENCH_SIZES="224 120" in a later call. EDAT_CUDNN_VERBOSE=1 logs,
#                once per geometry, the algorithm, math type, workspace and determinism cuDNN's choice came to.
#  8. train      a short train_resnet on the carried UTKFace subset.
#
# ---- How it gets a working build: built HERE, carried THERE ----
# That machine has nvcc/CMake/ninja but none of edat's header or system dependencies, so the binaries are built on
# the development machine and carried: `bash scripts/prepare_gpu_bundle.sh` (CUDA on, static CUDA runtime, x86-64-v3
# CPU code, stripped, xz-packed, with every shared library the binaries need but those the GPU machine supplies:
# scripts/gpu_bundle_libs.sh) and `bash scripts/prepare_gpu_data.sh` (4,000 UTKFace faces at 128 px; gpu_data/).
# Both folders are ignored by git and travel through `carry`. cuBLAS, cuDNN and NVRTC are NOT carried: LD_LIBRARY_PATH
# points at the lib folders of PyTorch's pip `nvidia` packages there (torch 2.11.0+cu130: libcublas.so.13, cuDNN 9),
# the majors this build links. If a later image has cu12 wheels, `linking` says "not found" for libcublas.so.13.
#
# ---- The device call (the tool `run`), after the two prepare scripts ran here ----
#   command:   bash scripts/gpu_check.sh
#   carry:     ["gpu_bundle", "gpu_data"]
#   timeout_s: 540
# Check first: `du -sb gpu_bundle gpu_data` plus the tracked files stay under 64 MiB (67108864 bytes).
#
# ---- Testing it without a GPU (CI runs this: ctest gpu_check_cpu_mode) ----
#   GPU_CHECK_CPU=1 OUT=/tmp/gpu_check bash scripts/gpu_check.sh
# runs every step that can run without a GPU, on the binaries of BUILD_DIR (default build/) when there is no bundle:
# env, linking, the preflight (which must then fail and name the CUDA runtime's reason), the CUDA tests without
# EDAT_REQUIRE_GPU (they must skip, each saying why), the sanitizer step's detection, the benchmark and the training
# run on --device cpu at tiny sizes. It exits non-zero when any of that goes wrong.
#
# Settings (environment): OUT (log folder; default /tmp/gpu_check_out), GPU_BUNDLE (gpu_bundle), GPU_DATA (gpu_data),
# BUILD_DIR (build, CPU mode without a bundle), PYTHON (python3), GPU_CHECK_CPU (1: the CPU mode), BENCH_SIZES (120).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 2
repo=$(pwd)
source scripts/cuda_tests.sh
OUT="${OUT:-/tmp/gpu_check_out}"
bundle="$repo/${GPU_BUNDLE:-gpu_bundle}"
data="$repo/${GPU_DATA:-gpu_data}"
cpu_mode="${GPU_CHECK_CPU:-0}"
python="${PYTHON:-python3}"
mkdir -p "$OUT"
rm -f "$OUT"/{env,link,tests,rerun,sanitizer,bench,train}.log "$OUT/summary.txt"
started=$(date +%s)
summary=()  # rows of the final table: "step|result|detail"

elapsed() { echo $(($(date +%s) - started)); }
note() { summary+=("$1|$2|$3"); }
# Runs "$@" with the carried libraries and the CUDA libraries of PyTorch's packages visible (edat binaries only:
# python3 keeps its own environment).
edat() { LD_LIBRARY_PATH="$edat_libs" "$@"; }
# The exit status of "$@" run for at most $1 seconds (124: timed out).
bounded() { local limit=$1; shift; timeout --kill-after=5 "$limit" "$@"; }

if [[ "$cpu_mode" == 1 ]]; then
  device=cpu
  "$python" -c "import torch" 2>/dev/null || python=/usr/bin/python3  # Debian's python3-torch, if installed
  bench_args=(--batch 2 --sizes 32 --steps 2 --warmup 1 --timeout 120)
  train_args=(--arch resnet18 --batch-size 8 --img-size 32 --resize 36 --max-steps 3 --epochs 1 --workers 2)
else
  device=cuda
  # 20 timed steps after 5 warm-ups; 50 s per process bounds the benchmark at 2 x 50 s per size.
  bench_args=(--batch 256 --sizes "${BENCH_SIZES:-120}" --steps 20 --warmup 5 --timeout 50)
  # The training configuration of configs/utkface_coral.json's size (120 px from 128), from scratch, L1 + Adam.
  train_args=(--arch resnet34 --batch-size 128 --img-size 120 --resize 128 --epochs 3 --workers 12)
fi

# ---- 0. the binaries: the carried bundle, or in CPU mode without one, this checkout's build -------------------------
if [[ -f "$bundle/bundle.tar.xz" ]]; then
  rm -rf /tmp/edat_bundle && mkdir -p /tmp/edat_bundle && tar -C /tmp/edat_bundle -xJf "$bundle/bundle.tar.xz"
  bundle=/tmp/edat_bundle
elif [[ "$cpu_mode" == 1 && ! -d "$bundle/bin" ]]; then
  build="${BUILD_DIR:-build}"
  [[ "$build" == /* ]] || build="$repo/$build"
  bundle=$(mktemp -d /tmp/edat_cpu_bundle.XXXXXX)
  mkdir -p "$bundle/bin"
  for name in "${cuda_test_binaries[@]}" cuda_info train_resnet bench_train_gpu; do
    path=$(find "$build" -maxdepth 2 -type f -name "$name" -perm -u+x | head -n 1)
    [[ -n "$path" ]] && ln -s "$path" "$bundle/bin/$name"
  done
  bash scripts/gpu_bundle_libs.sh copy "$bundle/lib" "$bundle"/bin/* >/dev/null
  echo "$repo" >"$bundle/source_dir"
fi
if [[ ! -d "$bundle/bin" ]]; then
  echo "gpu_check.sh: no $bundle/bundle.tar.xz: run scripts/prepare_gpu_bundle.sh here and carry gpu_bundle" >&2
  exit 2
fi
have() { [[ -x "$bundle/bin/$1" ]]; }
# A CUDA tool ($1: cuobjdump or compute-sanitizer): the bundle's (scripts/get_gpu_tools.sh, packed by
# prepare_gpu_bundle.sh), this checkout's gpu_tools/, the PATH, or the toolkit's; empty when none.
find_tool() {
  local candidate
  for candidate in "$bundle/tools/$1/$1" "$bundle/tools/$1/bin/$1" "$repo/gpu_tools/$1/$1" "$repo/gpu_tools/$1/bin/$1" \
    "$(command -v "$1")" "/usr/local/cuda/bin/$1"; do
    [[ -n "$candidate" && -x "$candidate" ]] && { echo "$candidate"; return; }
  done
}

# ---- 1. env: machine, PyTorch, the pip nvidia libraries, versions -------------------------------------------------
# The folders holding shared libraries under every path of the `nvidia` namespace package (cu13 wheels keep them in
# nvidia/cu13/lib, cuDNN in nvidia/cudnn/lib; older layouts in nvidia/*/lib).
nvidia_roots=$("$python" -c "import nvidia; print('\n'.join(nvidia.__path__))" 2>/dev/null)
nvidia_dirs=""
if [[ -n "$nvidia_roots" ]]; then
  nvidia_dirs=$(while read -r root; do find "$root" -name 'lib*.so*' -printf '%h\n'; done <<<"$nvidia_roots" |
    sort -u | paste -sd:)
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
  echo "== gpu_check $(date -u +%FT%TZ) mode=$device repo=$repo kernel $(uname -r)"
  nvidia-smi 2>&1 | head -n 15 || echo "nvidia-smi: not available"
  "$python" -c "import torch, torchvision; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'cudnn', \
torch.backends.cudnn.version(), 'available', torch.cuda.is_available(), 'torchvision', torchvision.__version__)" 2>&1
  echo "nvidia package paths: ${nvidia_roots:-none}" | paste -sd' '
  echo "nvidia lib folders: ${nvidia_dirs:-none found}"
  echo "cuDNN sub-libraries and NVRTC there:"
  for dir in ${nvidia_dirs//:/ }; do
    for lib in "$dir"/libcudnn* "$dir"/libnvrtc*; do [[ -e "$lib" ]] && echo "  $lib"; done
  done
  echo "carried libs used: $(find "$fallback" -mindepth 1 -printf '%f ')"
  echo "fixtures: $src -> $(readlink -f "$src" 2>/dev/null)"
  if have cuda_info; then edat "$bundle/bin/cuda_info"; else echo "cuda_info: not in the bundle"; fi
} >"$OUT/env.log" 2>&1
versions=$(grep -E '^(driver supports CUDA|cuDNN loaded|cuda:0) ' "$OUT/env.log" | sed 's/  */ /g' | paste -sd';')
note env ok "${versions:-no versions (env.log)}"

# ---- 2. linking: every binary binds all its symbols; the GPU code is there for sm_90 --------------------------------
link_failed=()
for bin in "$bundle"/bin/*; do
  name=$(basename "$bin")
  case "$name" in
    test_*) args=(--gtest_list_tests) ;;
    cuda_info) args=() ;;
    *) args=(--help) ;;
  esac
  if ! out=$(edat env LD_BIND_NOW=1 "$bin" "${args[@]}" 2>&1); then
    link_failed+=("$name")
    { echo "==== $name (LD_BIND_NOW=1) failed:"; tail -n 5 <<<"$out"; } >>"$OUT/link.log"
  fi
  if grep -qE 'symbol lookup error|cannot open shared object|undefined symbol' <<<"$out"; then
    link_failed+=("$name")
  fi
done
cuobjdump_bin=$(find_tool cuobjdump)
sm90="no cuobjdump (scripts/get_gpu_tools.sh)"
if [[ -n "$cuobjdump_bin" ]] && have test_cuda_backend; then
  elf=$("$cuobjdump_bin" --list-elf "$bundle/bin/test_cuda_backend" 2>&1)
  echo "$elf" >>"$OUT/link.log"
  if grep -q 'sm_90' <<<"$elf"; then sm90="sm_90 code present"; else sm90="NO sm_90 code"; link_failed+=(sm_90); fi
fi
if ((${#link_failed[@]})); then
  note linking FAILED "$(printf '%s ' "${link_failed[@]}" | sort -u) (link.log); $sm90"
else
  note linking ok "$(ls "$bundle/bin" | wc -l) binaries bind with LD_BIND_NOW=1; $sm90"
fi

# ---- 3. preflight: is there a usable GPU at all? -------------------------------------------------------------------
gpu_usable=0
if have test_cuda_backend; then
  preflight=$(EDAT_REQUIRE_GPU=1 edat bounded 60 "$bundle/bin/test_cuda_backend" \
    --gtest_filter=CudaMemory.F32RoundTripIsBitIdentical --gtest_color=no 2>&1)
  preflight_rc=$?
  reason=$(grep -m1 -o 'no CUDA device (EDAT_REQUIRE_GPU=1): .*' <<<"$preflight")
  if ((preflight_rc == 0)); then
    gpu_usable=1
    note preflight ok "a CUDA test ran on the device"
  elif [[ "$cpu_mode" == 1 && -n "$reason" ]]; then
    note preflight ok "no device, as expected in CPU mode: ${reason#*: }"
  else
    note preflight FAILED "${reason:-$(tail -n 3 <<<"$preflight" | paste -sd' ')}; later GPU steps skipped"
    printf '%s\n' "$preflight" >>"$OUT/tests.log"
  fi
else
  note preflight MISSING "test_cuda_backend is not in the bundle"
fi

# ---- 4. the CUDA tests ---------------------------------------------------------------------------------------------
# With a GPU: EDAT_REQUIRE_GPU=1, so a skip for lack of a device is a failure. In CPU mode: without it, and every CUDA
# test must then skip saying "no CUDA device: <reason>" (tests/require_gpu_test.sh checks the converse in ctest).
failed_tests=()  # "binary:Suite.Name"
if ((gpu_usable)) || [[ "$cpu_mode" == 1 ]]; then
  require=$((gpu_usable ? 1 : 0))
  tests_deadline=$(($(date +%s) + 150))
  for name in "${cuda_test_binaries[@]}"; do
    have "$name" || { note "$name" MISSING "not in the bundle"; continue; }
    filter=$(cuda_test_filter "$name")
    left=$((tests_deadline - $(date +%s)))
    ((left > 60)) && left=60
    ((left < 5)) && { note "$name" SKIPPED "no time left in the test budget"; continue; }
    t0=$(date +%s)
    log="$OUT/test_$name.tmp"
    EDAT_REQUIRE_GPU=$require edat bounded "$left" "$bundle/bin/$name" --gtest_filter="$filter" --gtest_color=no \
      >"$log" 2>&1
    rc=$?
    { echo "==== $name --gtest_filter=$filter EDAT_REQUIRE_GPU=$require (exit $rc)"; cat "$log"; } >>"$OUT/tests.log"
    passed=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log")
    skipped=$(sed -n 's/^\[  SKIPPED \] \([0-9]*\) test.*/\1/p' "$log")
    failed=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log")
    no_device=$(grep -c 'no CUDA device' "$log")
    while read -r test_name; do
      [[ -n "$test_name" ]] && failed_tests+=("$name:$test_name")
    done < <(sed -n 's/^\[  FAILED  \] \([A-Za-z0-9_/]*\.[A-Za-z0-9_/]*\).*/\1/p' "$log" | sort -u)
    parity=$(sed -n 's/^\[ parity \] \(.*\)/\1/p' "$log" | sed 's/gradients of [0-9]* parameters, //' | paste -sd';')
    result=ok
    ((rc == 124 || rc == 137)) && result=TIMEOUT
    ((rc != 0 && rc != 124 && rc != 137)) && result=FAILED
    ((require && no_device > 0)) && result=FAILED
    if [[ "$cpu_mode" == 1 && "$result" == ok ]] && grep -q '^\[  SKIPPED \]' "$log" &&
      ! grep -q '^no CUDA device: ' "$log"; then
      result=FAILED  # a CUDA test skipped without saying why
    fi
    detail="${passed:-0} passed, ${skipped:-0} skipped, ${failed:-0} failed, $(($(date +%s) - t0)) s"
    ((require && no_device > 0)) && detail+="; no CUDA device"
    [[ -n "$parity" ]] && detail+="; parity worst: $parity"
    note "$name" "$result" "$detail"
    rm -f "$log"
  done
else
  note tests SKIPPED "no usable GPU (preflight)"
fi
for failure in "${failed_tests[@]}"; do note "  failed" "" "$failure"; done

# ---- 5. each failed test again, alone, with blocking launches and cuDNN's debug log --------------------------------
if ((gpu_usable && ${#failed_tests[@]})); then
  for failure in "${failed_tests[@]:0:6}"; do
    name=${failure%%:*} test_name=${failure#*:}
    {
      echo "==== $name --gtest_filter=$test_name with CUDA_LAUNCH_BLOCKING=1 CUDNN_LOGLEVEL_DBG=3"
      CUDA_LAUNCH_BLOCKING=1 CUDNN_LOGLEVEL_DBG=3 CUDNN_LOGDEST_DBG=stderr EDAT_CUDNN_VERBOSE=1 EDAT_REQUIRE_GPU=1 \
        edat bounded 30 "$bundle/bin/$name" --gtest_filter="$test_name" --gtest_color=no 2>&1 | tail -n 400
    } >>"$OUT/rerun.log"
  done
  note reruns ok "${#failed_tests[@]} failed test(s) re-run alone (at most 6): rerun.log"
fi

# ---- 6. compute-sanitizer ------------------------------------------------------------------------------------------
sanitizer=$(find_tool compute-sanitizer)
# tool|binary|filter: the kernels each tool is aimed at.
sanitizer_runs=(
  "memcheck|test_cuda_backend|CudaBackendOps.UnaryMatchesCpu:CudaBackendOps.BinaryMatchesCpuWithBroadcasting:CudaBackendOps.SumDimMatchesCpu:CudaBackendOps.MaxDimMatchesCpuIncludingTiesAndNaN:CudaBackendOps.Transpose2dMatchesCpu"
  "memcheck|test_layers_cuda|CudaLayers.MaxPool*:CudaLayers.AdaptiveAvgPool*:CudaLayers.Dropout*:CudaLayers.BatchNorm*"
  "racecheck|test_cuda_backend|CudaBackendOps.SumDimMatchesCpu:CudaBackendOps.MaxDimMatchesCpuIncludingTiesAndNaN:CudaBackendOps.Transpose2dMatchesCpu"
  "synccheck|test_optim_cuda|CudaOptim.ClipGradNormMatchesTheCpu"
)
if [[ -z "$sanitizer" ]]; then
  note sanitizer SKIPPED "no compute-sanitizer (scripts/get_gpu_tools.sh)"
elif ((!gpu_usable)) && [[ "$cpu_mode" != 1 ]]; then
  note sanitizer SKIPPED "no usable GPU (preflight)"
else
  # In CPU mode only the first run, which must end as "could not attach" (nothing to instrument without a GPU).
  ((gpu_usable)) || sanitizer_runs=("${sanitizer_runs[0]}")
  for run in "${sanitizer_runs[@]}"; do
    IFS='|' read -r tool name filter <<<"$run"
    have "$name" || continue
    out=$(EDAT_REQUIRE_GPU=1 edat bounded 45 "$sanitizer" --tool "$tool" --error-exitcode 3 \
      "$bundle/bin/$name" --gtest_filter="$filter" --gtest_color=no 2>&1)
    rc=$?
    { echo "==== compute-sanitizer --tool $tool $name --gtest_filter=$filter (exit $rc)"; tail -n 200 <<<"$out"; } \
      >>"$OUT/sanitizer.log"
    errors=$(grep -m1 -o 'ERROR SUMMARY: [0-9]* error' <<<"$out" | grep -o '[0-9]*')
    if grep -qiE 'unable to|not supported|could not (load|open)|terminated before first instrumented' <<<"$out" &&
      [[ -z "$errors" ]]; then
      note "$tool $name" SKIPPED "the sanitizer could not attach (sanitizer.log)"
    elif ((rc == 124 || rc == 137)); then
      note "$tool $name" TIMEOUT "over 45 s; ${errors:-no} errors reported before"
    elif ((rc == 0)) && [[ "${errors:-0}" == 0 ]]; then
      note "$tool $name" ok "0 errors"
    else
      note "$tool $name" FAILED "exit $rc, ${errors:-?} errors (sanitizer.log)"
    fi
  done
fi

# ---- 7. training benchmark, edat beside PyTorch --------------------------------------------------------------------
if ((gpu_usable)) || [[ "$cpu_mode" == 1 ]]; then
  EDAT_CUDNN_VERBOSE=1 EDAT_LD_LIBRARY_PATH="$edat_libs" bash bench/run_train_gpu.sh --device "$device" \
    --bin "$bundle/bin/bench_train_gpu" --python "$python" "${bench_args[@]}" >"$OUT/bench.log" 2>&1
  bench_rc=$?
  torch_missing=$(! "$python" -c "import torch" 2>/dev/null && echo 1)
  if ((bench_rc == 0)); then
    note bench ok "table below (bench.log)"
  elif [[ "$cpu_mode" == 1 && -n "$torch_missing" ]] && grep -q '^edat ' "$OUT/bench.log"; then
    note bench ok "edat ran; no PyTorch here to compare with (bench.log)"
  else
    note bench FAILED "exit $bench_rc (bench.log)"
  fi
else
  note bench SKIPPED "no usable GPU (preflight)"
fi

# ---- 8. a short real training run on the carried UTKFace subset -------------------------------------------------
run_dir=/tmp/gpu_check_run
rm -rf "$run_dir"
if ! ((gpu_usable)) && [[ "$cpu_mode" != 1 ]]; then
  note train SKIPPED "no usable GPU (preflight)"
elif [[ -f "$data/train.csv" ]]; then
  t0=$(date +%s)
  edat bounded 100 "$bundle/bin/train_resnet" --device "$device" --dataset csv --data-root "$data" \
    --train-csv "$data/train.csv" --loss l1 --optimizer adam --lr 1e-3 "${train_args[@]}" --out "$run_dir" \
    --progress-seconds 10 >"$OUT/train.log" 2>&1
  rc=$?
  cp "$run_dir/results.json" "$OUT/train_results.json" 2>/dev/null
  last_epoch=$(tail -n 1 "$run_dir/metrics.csv" 2>/dev/null)
  result=ok
  ((rc == 124 || rc == 137)) && result=TIMEOUT
  ((rc != 0 && rc != 124 && rc != 137)) && result=FAILED
  note train "$result" "$(($(date +%s) - t0)) s; last metrics.csv row: ${last_epoch:-none}"
else
  note train SKIPPED "no $data/train.csv (run scripts/prepare_gpu_data.sh here and carry gpu_data)"
fi

# ---- the table, last ---------------------------------------------------------------------------------------------
{
  echo
  echo "==== gpu_check summary: mode $device, $(elapsed) s, logs in $OUT"
  for row in "${summary[@]}"; do
    IFS='|' read -r step result detail <<<"$row"
    printf '%-26s %-8s %s\n' "$step" "$result" "$detail"
  done
  echo
  sed -n '/^config /,$p' "$OUT/bench.log" 2>/dev/null
} | tee "$OUT/summary.txt"
if printf '%s\n' "${summary[@]}" | grep -q '|\(FAILED\|TIMEOUT\|MISSING\)|'; then exit 1; fi
exit 0
