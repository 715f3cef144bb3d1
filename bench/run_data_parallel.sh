#!/usr/bin/env bash
# Data-parallel training on this machine's cores: train_resnet as 1 process x 2 OpenMP threads against 2 MPI processes
# x 1 thread each (mpirun), the same global batches, on generated demo faces. Prints the median images/s of each (the
# epoch's training speed, loader included) and, for 2 processes, the share of the steps' time spent in collectives
# (train_resnet's "data parallel: ..." line), and of it the gradient reductions that backward did not hide.
#   bash bench/run_data_parallel.sh [--repeats 3] [--arch resnet18] [--size 64] [--batch 32] [--images 400]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
repeats=3 arch=resnet18 size=64 batch=32 images=400
while (($#)); do
  case $1 in
    --repeats) repeats=$2 ;; --arch) arch=$2 ;; --size) size=$2 ;; --batch) batch=$2 ;; --images) images=$2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift 2
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
build/apps/make_demo_faces --out "$work/faces" --count "$images" --size $((size * 2)) --no-full-images >/dev/null
train=(build/apps/train_resnet --data-root "$work/faces" --arch "$arch" --img-size "$size" --batch-size "$batch"
       --epochs 1 --workers 1 --no-augment --progress-seconds 1000)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
speed() { grep -o "[0-9]* img/s" | head -1 | cut -d" " -f1; }
one=() two=() share=() gradients=()
for r in $(seq 1 "$repeats"); do
  one+=("$(OMP_NUM_THREADS=2 "${train[@]}" --out "$work/one$r" | grep -o "epoch 1/1: train loss.*" | speed)")
  out=$(mpirun --oversubscribe -np 2 -x OMP_NUM_THREADS=1 "${train[@]}" --out "$work/two$r")
  two+=("$(grep -o "epoch 1/1: train loss.*" <<<"$out" | speed)")
  share+=("$(grep -o "data parallel: [0-9.]*%" <<<"$out" | grep -o "[0-9.]*")")
  # "(C of S s; W s of it waiting after backward ...": W / S, the gradient reductions backward did not hide.
  gradients+=("$(grep -o "([0-9.]* of [0-9.]* s; [0-9.]* s of it" <<<"$out" | awk '{ printf "%.1f", 100 * $5 / $3 }')")
done
echo "$arch, ${size} px, global batch $batch, $images images, $repeats repeats; $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
echo "1 process x 2 threads:   $(printf '%s\n' "${one[@]}" | median) img/s  (runs: ${one[*]})"
echo "2 processes x 1 thread:  $(printf '%s\n' "${two[@]}" | median) img/s  (runs: ${two[*]})"
echo "2 processes: collectives $(printf '%s\n' "${share[@]}" | median)% of the steps' time  (runs: ${share[*]})"
echo "  of which gradient reductions not hidden by backward: $(printf '%s\n' "${gradients[@]}" | median)%  (runs: ${gradients[*]})"
