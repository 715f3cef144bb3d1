#!/usr/bin/env bash
# serve_age under load: starts it (the shipped model, its defaults) on a free port, then for each client count runs
# serve_load (bench/serve_load.cpp): that many clients posting the photos of ../shared/data/faces (the 500-px VOC
# group photos, 2 to 7 faces each) in turn for SECONDS, after WARMUP. Prints requests/s, latency p50/p90/p99 and the
# server's resident memory after the warm-up, at its peak and at the end of each run; the server is the same
# process throughout, so its memory at the end of the last run against the first shows any growth.
#
#   bash bench/run_serve_load.sh      # env: CLIENTS="1 2 4 8" SECONDS_PER_RUN=30 WARMUP=3 THREADS=(cores) QUEUE=
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
build=${BUILD_DIR:-build}
faces=${SHARED:-../shared}/data/faces
clients=${CLIENTS:-1 2 4 8} seconds=${SECONDS_PER_RUN:-30} warmup=${WARMUP:-3}
[[ -x $build/apps/serve_age && -x $build/bench/serve_load ]] || {
  echo "run_serve_load: $build/apps/serve_age or $build/bench/serve_load is missing (scripts/setup.sh)" >&2; exit 1; }
photos=()
for name in 2008_002470 2008_001322 2007_007763 2008_004176 2008_002079 2008_002506 2008_007676 2009_004587; do
  [[ -f $faces/$name.jpg ]] && photos+=(--image "$faces/$name.jpg")
done
((${#photos[@]})) || { echo "run_serve_load: no photos in $faces (../shared)" >&2; exit 1; }

server_args=(--port 0)
[[ -n ${THREADS:-} ]] && server_args+=(--threads "$THREADS")
[[ -n ${QUEUE:-} ]] && server_args+=(--queue "$QUEUE")
log=$(mktemp)
"$build/apps/serve_age" "${server_args[@]}" >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -f "$log"' EXIT
for _ in $(seq 100); do grep -q "listening on" "$log" && break; sleep 0.1; done
port=$(grep -oE 'listening on http://[0-9.]+:[0-9]+' "$log" | grep -oE '[0-9]+$') ||
  { echo "run_serve_load: serve_age did not start: $(cat "$log")" >&2; exit 1; }
echo "$(head -1 "$log"); $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "server RSS MiB after start: $(awk '/VmRSS/ { printf "%.1f", $2 / 1024 }' /proc/$pid/status)"
for n in $clients; do
  echo "== $n client(s)"
  "$build/bench/serve_load" --port "$port" --clients "$n" --seconds "$seconds" --warmup "$warmup" \
    --server-pid "$pid" "${photos[@]}" || true  # a 503 makes it exit 1: the numbers still say what happened
done
echo "server peak RSS MiB over all runs (VmHWM): $(awk '/VmHWM/ { printf "%.1f", $2 / 1024 }' /proc/$pid/status)"
