#!/usr/bin/env bash
# The CPU table: every training and inference case of the CPU-speed goal, edat beside Debian's PyTorch 1.13 and the
# newest PyTorch from PyPI (bench/.venv, made by bench/setup_peer_venv.sh; left out when absent), at the same thread
# counts, one process per run. Prints one table last: median time per step (training: forward, L1 loss, backward,
# Adam) or per batch (inference: eval mode, no gradients), the ratio edat / the faster peer (below 1.00x: edat is
# faster), peak resident memory of each, and the physical limit beside it: the case's FLOPs over this machine's
# measured GEMM peak (bench_cpu_kernels' 1024 x 1024 matmul at the same threads).
#
#   bash bench/run_cpu_suite.sh [--steps 5] [--warmup 1] [--threads "2 1"] [--cases "train:resnet34:16:112 ..."]
#
# Run it on an idle machine: another job on the cores distorts both sides, and not equally.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 2

steps=5 warmup=1 threads_list="2 1"
cases="train:resnet34:16:112 train:resnet18:32:64 train:resnet50:8:112 train:mobilenet_v2:16:112 train:vgg16:4:112
infer:resnet34:1:128 infer:resnet34:32:128 infer:mobilenet_v2:1:128 infer:mobilenet_v2:32:128"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --steps) steps="$2"; shift 2 ;;
    --warmup) warmup="$2"; shift 2 ;;
    --threads) threads_list="$2"; shift 2 ;;
    --cases) cases="$2"; shift 2 ;;
    *) echo "run_cpu_suite.sh: unknown argument '$1' (see the header of this script)" >&2; exit 2 ;;
  esac
done
edat=build/bench/resnet_train_step
[[ -x "$edat" ]] || { echo "run_cpu_suite.sh: build the resnet_train_step target first" >&2; exit 2; }
peers=(/usr/bin/python3)
[[ -x bench/.venv/bin/python ]] && peers+=(bench/.venv/bin/python)
peer_names=()
for py in "${peers[@]}"; do peer_names+=("torch $("$py" -c 'import torch; print(torch.__version__.split("+")[0])')"); done

# "median peak" of a result line: "... median 0.123 s ... peak RSS 456 MiB".
parse() { sed -n 's/.*median \([0-9.]*\) s.*peak RSS \([0-9.]*\) MiB.*/\1 \2/p' | tail -n 1; }
# The GEMM peak at $1 threads in GFLOP/s (median of 3), from bench_cpu_kernels.
gemm_peak() {
  OMP_NUM_THREADS=$1 build/bench/bench_cpu_kernels --benchmark_filter='BM_matmul_kernel/1024' \
    --benchmark_repetitions=3 --benchmark_report_aggregates_only=true 2>/dev/null |
    sed -n 's/.*_median .*GFLOP\/s=\([0-9.]*\)\([kMG]\?\).*/\1 \2/p' | head -n 1 |
    awk '{ v = $1; if ($2 == "k") v *= 1e3; else if ($2 == "M") v *= 1e6; else if ($2 == "G") v *= 1e9; print v }'
}

rows=()
for threads in $threads_list; do
  peak=$(gemm_peak "$threads")
  echo "== $threads thread(s): GEMM peak ${peak:-?} GFLOP/s"
  for case in $cases; do
    IFS=: read -r mode arch batch size <<<"$case"
    args=(--mode "$mode" --arch "$arch" --batch "$batch" --size "$size" --steps "$steps" --warmup "$warmup")
    e=$(OMP_NUM_THREADS=$threads "$edat" "${args[@]}" 2>/dev/null | tee >(cat >&2) | parse)
    peer_results=()
    for py in "${peers[@]}"; do
      peer_results+=("$("$py" bench/resnet_train_step.py "${args[@]}" --threads "$threads" 2>/dev/null |
        tee >(cat >&2) | parse)")
    done
    gflop=$(/usr/bin/python3 bench/count_flops.py --arch "$arch" --batch "$batch" --size "$size" |
      sed -n 's/forward_gflop=//p')
    [[ $mode == train ]] && gflop=$(awk -v f="$gflop" 'BEGIN { print 3 * f }')
    rows+=("$threads|$mode $arch b$batch ${size}px|$e|$(IFS='|'; echo "${peer_results[*]}")|$gflop|$peak")
  done
done

echo
header=$(printf '%-3s %-28s %9s' "thr" "case" "edat s")
for name in "${peer_names[@]}"; do header+=$(printf ' %12s' "$name s"); done
header+=$(printf ' %7s %9s' "ratio" "edat MiB")
for name in "${peer_names[@]}"; do header+=$(printf ' %14s' "$name MiB"); done
header+=$(printf ' %8s %9s' "mem" "limit s")
echo "$header"
for row in "${rows[@]}"; do
  IFS='|' read -r -a f <<<"$row"
  threads=${f[0]} name=${f[1]} e=${f[2]}
  read -r e_time e_mem <<<"$e"
  line=$(printf '%-3s %-28s %9s' "$threads" "$name" "${e_time:-failed}")
  best_time="" best_mem=""
  for ((i = 0; i < ${#peers[@]}; i++)); do
    read -r p_time p_mem <<<"${f[3 + i]}"
    line+=$(printf ' %12s' "${p_time:-failed}")
    if [[ -n "$p_time" ]] && { [[ -z "$best_time" ]] || awk -v a="$p_time" -v b="$best_time" 'BEGIN { exit !(a < b) }'; }; then
      best_time=$p_time
    fi
    if [[ -n "$p_mem" ]] && { [[ -z "$best_mem" ]] || awk -v a="$p_mem" -v b="$best_mem" 'BEGIN { exit !(a < b) }'; }; then
      best_mem=$p_mem
    fi
  done
  ratio() { [[ -n "$1" && -n "$2" ]] && awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }' || echo "-"; }
  line+=$(printf ' %7s %9s' "$(ratio "$e_time" "$best_time")" "${e_mem:-failed}")
  for ((i = 0; i < ${#peers[@]}; i++)); do
    read -r p_time p_mem <<<"${f[3 + i]}"
    line+=$(printf ' %14s' "${p_mem:-failed}")
  done
  gflop=${f[3 + ${#peers[@]}]} peak=${f[4 + ${#peers[@]}]}
  limit=$(awk -v g="$gflop" -v p="$peak" 'BEGIN { if (p > 0) printf "%.3f", g / p; else print "-" }')
  line+=$(printf ' %8s %9s' "$(ratio "$e_mem" "$best_mem")" "$limit")
  echo "$line"
done
echo "ratio: edat's time / the faster peer's (below 1.00x edat is faster); mem: edat's peak RSS / the smaller peer's;"
echo "limit: the case's FLOPs (bench/count_flops.py; training 3x the forward) / the GEMM peak at those threads."
