#!/usr/bin/env bash
# The sanitizer job: builds edat with AddressSanitizer (LeakSanitizer included) and UndefinedBehaviorSanitizer, CUDA
# off, in its own build folder, and runs ctest there; any report fails the run. Run it before each stop (it is a
# full second build: about as long as the first), or for a few tests while working on them:
#
#   scripts/sanitize.sh                                   # build-asan/, every test but the fuzzers (ASan already)
#   scripts/sanitize.sh -R 'test_weights'                 # ctest arguments pass through
#   EDAT_SANITIZE_TARGETS="test_weights_hostile" scripts/sanitize.sh -R Hostile   # build only those targets
#
# CMAKE_CXX_COMPILER_LAUNCHER (ccache) and EDAT_SANITIZE_DIR (default build-asan) are honoured.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${EDAT_SANITIZE_DIR:-build-asan}
flags="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
launcher=()
[[ -n ${CMAKE_CXX_COMPILER_LAUNCHER:-} ]] && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER="$CMAKE_CXX_COMPILER_LAUNCHER")
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEDAT_CUDA=OFF -DEDAT_BUILD_FUZZERS=OFF \
  -DCMAKE_CXX_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="$flags" -DCMAKE_SHARED_LINKER_FLAGS="$flags" "${launcher[@]}"
targets=()
for target in ${EDAT_SANITIZE_TARGETS:-}; do targets+=(--target "$target"); done
cmake --build "$build" -j"$(nproc)" "${targets[@]}"
# Leaks, overflows and undefined behaviour all end the test with a report.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
ctest --test-dir "$build" --output-on-failure -j"$(nproc)" -LE fuzz "$@"
