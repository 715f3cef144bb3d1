#!/usr/bin/env bash
# Data-parallel training across machines, on one machine: two network namespaces joined by a veth pair (addresses
# from 192.0.2.0/24, TEST-NET-1, never routed anywhere) stand for two hosts. mpirun runs in the first, starts its
# daemon in the second through a launcher agent (`ip netns exec` in place of ssh), and the processes talk over TCP
# only (btl tcp,self): the multi-host path. The run must give one process's weights (as dist_test.sh's equivalence).
# Needs root (ip netns); skipped otherwise.
#
#   tests/dist_netns_test.sh BIN_DIR TESTS_BIN_DIR SCRATCH_DIR WITH_MPI   (ctest runs it; exit 77: skipped)
set -uo pipefail
bin=$1 tests_bin=$2 scratch=$3 with_mpi=$4
source "$(dirname "${BASH_SOURCE[0]}")/script_test_lib.sh"  # fail, expect, $failures
require_mpi "$with_mpi"
if [[ $(id -u) -ne 0 ]] || ! command -v ip >/dev/null; then
  echo "skipped: network namespaces need root and ip (iproute2)"
  exit 77
fi
rm -rf "$scratch" && mkdir -p "$scratch" && cd "$scratch" || exit 1

# Two "hosts": namespaces edat<pid>a and edat<pid>b (names unique to this run), 192.0.2.1 and 192.0.2.2.
a=edat$$a b=edat$$b
cleanup() { ip netns del "$a" 2>/dev/null; ip netns del "$b" 2>/dev/null; }
trap cleanup EXIT
if ! ip netns add "$a" 2>netns.err; then
  echo "skipped: cannot create network namespaces here: $(cat netns.err)"
  exit 77
fi
ip netns add "$b" && ip link add "v$$a" type veth peer name "v$$b" && ip link set "v$$a" netns "$a" &&
  ip link set "v$$b" netns "$b" && ip -n "$a" addr add 192.0.2.1/24 dev "v$$a" &&
  ip -n "$b" addr add 192.0.2.2/24 dev "v$$b" && ip -n "$a" link set lo up && ip -n "$b" link set lo up &&
  ip -n "$a" link set "v$$a" up && ip -n "$b" link set "v$$b" up || { echo "FAIL: setting up the namespaces"; exit 1; }

# The launcher agent mpirun calls as it would call ssh: AGENT HOST COMMAND...
cat >agent.sh <<AGENT
#!/bin/bash
host=\$1; shift
case \$host in 192.0.2.1) ns=$a ;; 192.0.2.2) ns=$b ;; *) echo "agent: unknown host \$host" >&2; exit 1 ;; esac
echo "launched on \$host in \$ns" >>"$PWD/agent.log"
exec ip netns exec "\$ns" /bin/sh -c "\$*"
AGENT
chmod +x agent.sh

export OMP_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
"$bin/make_demo_faces" --out faces --count 40 --size 48 --no-full-images >/dev/null || exit 1
train=("$bin/train_resnet" --data-root "$PWD/faces" --arch resnet18 --img-size 32 --resize 36 --batch-size 8 --workers 1
       --optimizer sgd --lr 0.01 --mode partial --trainable layer4,fc --sync-bn --max-steps 3 --epochs 1)
"${train[@]}" --out one >one.log 2>&1 || fail "one process: $(tail -3 one.log)"
expect 0 "data parallel: 2 processes" -- ip netns exec "$a" mpirun --host 192.0.2.1,192.0.2.2 -np 2 \
  --mca plm_rsh_agent "$PWD/agent.sh" --mca btl tcp,self --mca btl_tcp_if_include 192.0.2.0/24 \
  --mca oob_tcp_if_include 192.0.2.0/24 -x OMP_NUM_THREADS "${train[@]}" --dist-timeout 120 --out two
grep -q "launched on 192.0.2.2 in $b" agent.log || fail "no process was launched in the second namespace"
expect 0 "largest relative difference" -- "$tests_bin/compare_weights" two/last.safetensors one/last.safetensors 1e-5

echo "$failures failure(s)"
((failures == 0)) && rm -rf "$scratch"  # kept for inspection when something failed
exit $((failures > 0))
