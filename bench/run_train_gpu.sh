#!/usr/bin/env bash
# Runs bench_train_gpu (edat) and bench_train_gpu.py (PyTorch) on the same configurations, one process each, and
# prints their lines, then a table with the ratios edat / PyTorch of throughput and of peak memory, last.
#
#   bash bench/run_train_gpu.sh [--device cuda] [--batch 256] [--sizes "224 120"] [--steps 20] [--warmup 5]
#        [--bin build/bench/bench_train_gpu] [--python python3] [--timeout 0]
#
# EDAT_LD_LIBRARY_PATH, when set, is the LD_LIBRARY_PATH of the edat process alone (scripts/gpu_check.sh points it at
# the CUDA libraries of PyTorch's packages; python3 keeps its own environment).
# --timeout limits each process (seconds, 0: none) so that a hang cannot eat a device lease. Exit status: 0 when
# every run printed its line, 1 otherwise (the table then says "failed" for that side).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 2

device=cuda batch=256 sizes="224 120" steps=20 warmup=5 bin=build/bench/bench_train_gpu python=python3 limit=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --device) device="$2"; shift 2 ;;
    --batch) batch="$2"; shift 2 ;;
    --sizes) sizes="$2"; shift 2 ;;
    --steps) steps="$2"; shift 2 ;;
    --warmup) warmup="$2"; shift 2 ;;
    --bin) bin="$2"; shift 2 ;;
    --python) python="$2"; shift 2 ;;
    --timeout) limit="$2"; shift 2 ;;
    *) echo "run_train_gpu.sh: unknown argument '$1' (see the header of this script)" >&2; exit 2 ;;
  esac
done
[[ -x "$bin" ]] || { echo "run_train_gpu.sh: no edat binary at '$bin' (build the bench_train_gpu target)" >&2; exit 2; }

# The last line a command printed that starts with $1 (the result line), or nothing.
result_line() { grep "^$1 " | tail -n 1; }
# The value of key=value in a result line.
field() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<"$1"; }
# a / b as "1.23x", or "-" when either is missing.
ratio() {
  if [[ -n "$1" && -n "$2" ]]; then awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; else echo "-"; fi
}
limited() { if [[ "$limit" -gt 0 ]]; then timeout "$limit" "$@"; else "$@"; fi; }

status=0
rows=()
for size in $sizes; do
  common=(--device "$device" --batch "$batch" --size "$size" --steps "$steps" --warmup "$warmup")
  edat_env="${EDAT_LD_LIBRARY_PATH:-${LD_LIBRARY_PATH:-}}"
  edat=$(LD_LIBRARY_PATH="$edat_env" limited "$bin" "${common[@]}" 2>&1 | tee >(cat >&2) | result_line edat)
  torch=$(limited "$python" bench/bench_train_gpu.py "${common[@]}" 2>&1 | tee >(cat >&2) | result_line pytorch)
  printf '%s\n' "${edat:-edat: no result line (size $size)}" "${torch:-pytorch: no result line (size $size)}"
  [[ -n "$edat" && -n "$torch" ]] || status=1
  rows+=("$size|$edat|$torch")
done

echo
printf '%-26s %12s %12s %7s %10s %10s %7s\n' "config" "edat img/s" "torch img/s" "ratio" "edat MiB" "torch MiB" "ratio"
for row in "${rows[@]}"; do
  IFS='|' read -r size edat torch <<<"$row"
  e_ips=$(field "$edat" images_per_second) t_ips=$(field "$torch" images_per_second)
  e_mib=$(field "$edat" peak_mib) t_mib=$(field "$torch" peak_mib)
  printf '%-26s %12s %12s %7s %10s %10s %7s\n' "resnet34 $device b$batch ${size}px" "${e_ips:-failed}" \
    "${t_ips:-failed}" "$(ratio "$e_ips" "$t_ips")" "${e_mib:-failed}" "${t_mib:-failed}" "$(ratio "$e_mib" "$t_mib")"
done
exit "$status"
