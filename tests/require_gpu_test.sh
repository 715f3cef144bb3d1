#!/usr/bin/env bash
# A skipped GPU test must be able to fail: with EDAT_REQUIRE_GPU=1 (set by scripts/gpu_check.sh) every CUDA test
# either runs or fails naming why there is no device; none may report a skip for lack of one.
#
#   bash tests/require_gpu_test.sh BIN_DIR      (run by ctest as require_gpu_fails_without_a_device)
#
# On a machine without a GPU this checks that the CUDA tests FAIL under EDAT_REQUIRE_GPU=1 with the CUDA runtime's
# reason (cudaErrorNoDevice, cudaErrorInsufficientDriver, ... or "no CUDA backend" for a CPU-only build), and skip
# without it. On a GPU machine it checks that none of them skips for lack of a device.
set -uo pipefail
bin_dir=${1:?usage: require_gpu_test.sh BIN_DIR}

# The binaries that carry CUDA tests, and the filter that selects those tests (the list scripts/gpu_check.sh runs).
# shellcheck source=scripts/cuda_tests.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/cuda_tests.sh"

failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

for name in "${cuda_test_binaries[@]}"; do
  bin="$bin_dir/$name"
  [[ -x "$bin" ]] || { fail "$name is not built in $bin_dir"; continue; }
  filter=$(cuda_test_filter "$name")
  required=$(EDAT_REQUIRE_GPU=1 "$bin" --gtest_filter="$filter" --gtest_color=no 2>&1)
  required_rc=$?
  relaxed=$(EDAT_REQUIRE_GPU=0 "$bin" --gtest_filter="$filter" --gtest_color=no 2>&1)
  skipped_for_no_device=$(grep -c '^no CUDA device: ' <<<"$required")
  ((skipped_for_no_device == 0)) || fail "$name: $skipped_for_no_device test(s) skipped for lack of a device under EDAT_REQUIRE_GPU=1"
  if grep -q '^no CUDA device: ' <<<"$relaxed"; then
    # No device here: the same tests must fail under EDAT_REQUIRE_GPU=1, with the runtime's reason.
    ((required_rc != 0)) || fail "$name: exit 0 under EDAT_REQUIRE_GPU=1 without a device"
    grep -q 'no CUDA device (EDAT_REQUIRE_GPU=1): ' <<<"$required" || fail "$name: the failure does not say why"
    grep -Eq 'EDAT_REQUIRE_GPU=1\): .*(cudaError[A-Za-z]+|0 devices|no CUDA backend)' <<<"$required" ||
      fail "$name: the failure does not name the CUDA runtime's error"
    echo "ok: $name: $(grep -c 'no CUDA device (EDAT_REQUIRE_GPU=1)' <<<"$required") test(s) fail without a device" \
      "($(grep -m1 -o 'EDAT_REQUIRE_GPU=1): .*' <<<"$required" | cut -c22-))"
  else
    echo "ok: $name: no test skipped for lack of a device (exit $required_rc under EDAT_REQUIRE_GPU=1)"
  fi
done
((failures == 0)) || { echo "$failures failure(s)"; exit 1; }
echo "every CUDA test fails, rather than skips, without a device under EDAT_REQUIRE_GPU=1"
