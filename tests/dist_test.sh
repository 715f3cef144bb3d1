#!/usr/bin/env bash
# Data-parallel training end to end (dist/, train/trainer.h): train_resnet as 2 MPI processes on a tiny generated
# dataset, against one process.
#   - equivalence: 2 processes x half batch give one process's weights after 3 steps (within 1e-5 relative) with
#     batch norm pinned in eval mode, and with --sync-bn; per-process batch-norm statistics do not (the test can fail);
#     the test metrics equal one process's (evaluation spread over the processes and gathered)
#   - a run stopped and resumed gives the uninterrupted run's weights bit for bit (the same order of global batches);
#     resuming with another number of processes says what changes
#   - rank 0 alone writes the run folder (each process in its own working directory); settings that differ between
#     processes are refused
#   - SIGINT on one process stops both after the same step, with one checkpoint; a killed process ends the job with
#     a message; a hung one makes the others give up after --dist-timeout
#
#   tests/dist_test.sh BIN_DIR TESTS_BIN_DIR SCRATCH_DIR WITH_MPI   (ctest runs it; exit 77: skipped)
set -uo pipefail
bin=$1 tests_bin=$2 scratch=$3 with_mpi=$4
source "$(dirname "${BASH_SOURCE[0]}")/script_test_lib.sh"  # fail, expect, $failures
require_mpi "$with_mpi"
rm -rf "$scratch" && mkdir -p "$scratch" && cd "$scratch" || exit 1

export OMP_NUM_THREADS=1  # 2 processes on 2 cores
mpirun2=(mpirun --oversubscribe --allow-run-as-root -x OMP_NUM_THREADS -np 2)
"$bin/make_demo_faces" --out faces --count 40 --size 48 --no-full-images >/dev/null || exit 1
tiny=(--data-root "$PWD/faces" --arch resnet18 --img-size 32 --resize 36 --batch-size 8 --workers 1 --optimizer sgd
      --lr 0.01)
train=("$bin/train_resnet" "${tiny[@]}")
same() { "$tests_bin/compare_weights" "$@"; }
result() { grep -o "\"$2\": [0-9.e+-]*" "$1/results.json" | cut -d' ' -f2; }

# ---- equivalence: 3 steps of the global batch of 8, as 1 x 8 and as 2 x 4 ----
# Batch norm pinned in eval mode (only the head trains), and layer4's batch norms training with --sync-bn or with
# per-process statistics. (Not the whole network: there, ties in the max-pool after conv1 route gradients by the
# last bit, so that changing --lr by 1e-5 relative alone moves batch-norm biases by 5% after 3 steps.)
partial=(--mode partial --trainable layer4,fc)
for variant in "pinned:--mode feature-extraction" "sync-bn:${partial[*]} --sync-bn" "per-process-bn:${partial[*]}"; do
  name=${variant%%:*} flags=(${variant#*:})
  "${train[@]}" "${flags[@]}" --max-steps 3 --epochs 1 --out "one_$name" >"one_$name.log" 2>&1 ||
    fail "one process ($name): $(tail -3 "one_$name.log")"
  "${mpirun2[@]}" "${train[@]}" "${flags[@]}" --max-steps 3 --epochs 1 --out "two_$name" >"two_$name.log" 2>&1 ||
    fail "two processes ($name): $(tail -3 "two_$name.log")"
done
expect 0 "largest relative difference" -- same two_pinned/last.safetensors one_pinned/last.safetensors 1e-5
expect 0 "largest relative difference" -- same two_sync-bn/last.safetensors one_sync-bn/last.safetensors 1e-5
# Each process normalising its 4 images alone is another computation: the comparison sees it.
expect 1 "largest relative difference" -- same two_per-process-bn/last.safetensors one_per-process-bn/last.safetensors 1e-5
grep -q "data parallel: 2 processes" two_pinned.log || fail "two_pinned.log does not say it ran on 2 processes"
# The test split's metrics, evaluated over both processes' shards and gathered, are one process's.
for key in mae rmse images; do
  one=$(result one_pinned "$key") two=$(result two_pinned "$key")
  awk -v a="$one" -v b="$two" 'BEGIN { d = a - b; exit !(d * d <= 1e-10 * (a * a + 1e-30)) }' ||
    fail "test $key: one process $one, two processes $two"
done
rm -rf one_* two_*  # each run folder holds about 200 MB of weights and checkpoints

# ---- stop and resume: the same global batches in the same order ----
"${mpirun2[@]}" "${train[@]}" --epochs 2 --out straight >straight.log 2>&1 || fail "straight: $(tail -3 straight.log)"
"${mpirun2[@]}" "${train[@]}" --epochs 2 --max-steps 2 --out resumed >resumed.log 2>&1 || fail "$(tail -3 resumed.log)"
expect 0 "resumed from" -- "${mpirun2[@]}" "$bin/train_resnet" --resume resumed --max-steps 0
expect 0 "largest relative difference 0 " -- same resumed/final.safetensors straight/final.safetensors 0
"${mpirun2[@]}" "${train[@]}" --epochs 2 --max-steps 2 --out fewer >fewer.log 2>&1 || fail "$(tail -3 fewer.log)"
expect 0 "checkpoint was written by 2 process\(es\), this run has 1: .*not bit-identical" -- \
  "$bin/train_resnet" --resume fewer --max-steps 3
rm -rf straight resumed fewer

# ---- rank 0 alone writes: each process starts in its own folder with the same relative --out ----
mkdir -p r0 r1
expect 0 "test with the best weights" -- mpirun --oversubscribe --allow-run-as-root -x OMP_NUM_THREADS \
  -np 1 --wdir "$PWD/r0" "${train[@]}" --epochs 1 --out run : -np 1 --wdir "$PWD/r1" "${train[@]}" --epochs 1 --out run
for f in config.json train.log metrics.csv checkpoint.safetensors best.safetensors final.safetensors report.html; do
  [[ -s r0/run/$f ]] || fail "rank 0 did not write run/$f"
done
[[ -e r1/run ]] && fail "rank 1 wrote into its folder: $(ls r1/run)"
[[ $(grep -c "^training 1 epochs" r0/run/train.log) -eq 1 ]] || fail "train.log: not exactly one 'training' line"
expect 1 "rank 1 of 2: settings differ from rank 0's: --lr 0.02 \(rank 0: 0.01\)" -- \
  mpirun --oversubscribe --allow-run-as-root -x OMP_NUM_THREADS -np 1 "${train[@]}" --out differ : \
  -np 1 "${train[@]}" --lr 0.02 --out differ
rm -rf r0 r1 differ

# ---- signals, a killed process, a hung one ----
# start_long NAME [FLAGS]: a long 2-process run in the background; waits for its first checkpoint. Sets $job.
start_long() {
  local name=$1
  shift
  "${mpirun2[@]}" "${train[@]}" --epochs 500 "$@" --out "$name" >"$name.log" 2>&1 &
  job=$!
  for _ in $(seq 1 600); do [[ -f $name/checkpoint.safetensors ]] && break; sleep 0.1; done
}
# The pid of MPI rank $1 among the job's processes.
rank_pid() {
  local pid
  for pid in $(pgrep -f "train_resnet.*--epochs 500"); do
    tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$1" && echo "$pid" && return
  done
}
# ended_within SECONDS: the background job ended in time (else it is killed); sets $status.
ended_within() {
  for _ in $(seq 1 $(($1 * 10))); do kill -0 "$job" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$job" 2>/dev/null; then
    kill -KILL "$job"
    fail "the job still ran after $1 s"
  fi
  wait "$job"
  status=$?
}

start_long interrupted
kill -INT "$(rank_pid 1)"
ended_within 60
[[ $status -eq 130 ]] || fail "SIGINT on rank 1: exit code $status, expected 130: $(tail -3 interrupted.log)"
[[ $(grep -c "interrupted after step" interrupted.log) -eq 1 ]] || fail "not one 'interrupted' line: $(tail -3 interrupted.log)"
step=$(grep -o "interrupted after step [0-9]*" interrupted.log | grep -o "[0-9]*$")
expect 0 "resumed from .*step $step" -- "${mpirun2[@]}" "$bin/train_resnet" --resume interrupted --max-steps $((step + 1))

start_long killed
kill -KILL "$(rank_pid 1)"
ended_within 60
[[ $status -ne 0 ]] || fail "a killed process: the job exited with 0"
grep -qE "signal 9|died|not responding" killed.log || fail "a killed process: no message: $(tail -5 killed.log)"

start_long hung --dist-timeout 15  # more than rank 0 takes to write a checkpoint on a busy machine
hung=$(rank_pid 1)
kill -STOP "$hung"
ended_within 90
[[ -n $hung ]] && kill -KILL "$hung" 2>/dev/null
[[ $status -ne 0 ]] || fail "a hung process: the job exited with 0"
grep -q "rank 0 of 2: .* did not complete within 15 s (--dist-timeout): another process has died or stopped responding" \
  hung.log || fail "a hung process: no timeout message: $(tail -5 hung.log)"

echo "$failures failure(s)"
((failures == 0)) && rm -rf "$scratch"  # kept for inspection when something failed
exit $((failures > 0))
