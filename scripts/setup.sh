#!/usr/bin/env bash
# Installs edat's system dependencies (Debian/Ubuntu, apt) when missing, then configures and builds into build/.
#
#   bash scripts/setup.sh                      # Release build in build/, CUDA backend if nvcc+cuBLAS+cuDNN are found
#   EDAT_NATIVE=ON bash scripts/setup.sh       # any EDAT_* variable in the environment becomes -DEDAT_*=value
#   bash scripts/setup.sh -DEDAT_CUDA=OFF      # arguments are passed to cmake's configure step
#   BUILD_DIR=build-native bash scripts/setup.sh -DEDAT_NATIVE=ON
#
# Idempotent: packages already installed are not touched (no network), and an existing build dir is rebuilt
# incrementally. nvcc and cuDNN are not installed from apt: they are expected under /usr/local/cuda.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
build_dir="${BUILD_DIR:-build}"

# Compiler and build tools, then libraries. OpenMP with g++ is libgomp, which comes with gcc.
packages=(
  cmake ninja-build g++ pkg-config
  libeigen3-dev          # CPU matrix products
  libopenblas-openmp-dev # the GEMM under them (cmake/gemm.cmake; optional at build time: EDAT_OPENBLAS)
  libstb-dev             # stb_image (PNG/BMP) and stb_image_write
  libturbojpeg0-dev      # JPEG decoding (TurboJPEG API: whole images)
  libjpeg-dev            # libjpeg-turbo's libjpeg API: decoding only a box of a JPEG
  clang-14 libclang-rt-14-dev  # libFuzzer targets (tests/fuzz/), run by ctest; skipped when absent
  libgtest-dev libgmock-dev
  libbenchmark-dev
  libcli11-dev           # command-line flags of the apps
  nlohmann-json3-dev     # safetensors headers, configs
  libzip-dev             # PyTorch .pth files (zip format)
  libdlib-dev            # face detection for crop_faces (optional at build time: without it crop_faces is skipped)
  libopenmpi-dev openmpi-bin  # data-parallel training under mpirun (dist/; optional at build time: EDAT_MPI)
  iproute2               # ip netns: the multi-host data-parallel test (tests/dist_netns_test.sh)
  procps                 # pgrep, for the data-parallel signal tests
  libonnx-dev libprotobuf-dev  # export_onnx: ONNX protobufs, checker, shape inference (optional at build time too)
  libcpp-httplib-dev     # serve_age's HTTP server (optional at build time: without it serve_age is skipped)
  chromium chromium-driver python3-selenium  # serve_age's page tested in headless Chromium (skipped without them)
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg -s "$p" 2>/dev/null | grep -q '^Status: install ok installed'; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo=()
  if [[ $(id -u) -ne 0 ]]; then sudo=(sudo); fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -q
  "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "setup: all ${#packages[@]} apt packages already installed"
fi

# EDAT_* variables from the environment become cache entries (EDAT_CUDA, EDAT_NATIVE, EDAT_WERROR, ...).
cmake_args=(-DCMAKE_BUILD_TYPE=Release)
while IFS='=' read -r name value; do
  cmake_args+=("-D${name}=${value}")
done < <(env | grep -E '^EDAT_[A-Z0-9_]+=' || true)
cmake_args+=("$@")

echo "setup: configuring $build_dir: cmake ${cmake_args[*]}"
cmake -S . -B "$build_dir" -G Ninja "${cmake_args[@]}"
echo "setup: building $build_dir with $(nproc) jobs"
cmake --build "$build_dir" -j"$(nproc)"
echo "setup: done; run $build_dir/apps/fit_mlp, or the tests with: ctest --test-dir $build_dir --output-on-failure -j2"
