#!/usr/bin/env bash
# Builds here what scripts/gpu_check.sh runs on the GPU machine, and packs it into gpu_bundle/ (ignored by git) to be
# carried there. Why build here: that machine has nvcc, CMake and ninja but none of edat's header-only or system
# dependencies (Eigen, stb, libjpeg-turbo, GoogleTest, CLI11, nlohmann-json) and no package registry.
#
#   bash scripts/prepare_gpu_bundle.sh          # BUILD_DIR=build-gpu JOBS=2 by default
#
# The build: -DEDAT_CUDA=ON (sm_90 machine code + compute_90 PTX, cmake/cuda.cmake), the CUDA runtime linked
# statically (CUDA::cudart_static, tensor/CMakeLists.txt), -DEDAT_NATIVE=OFF so the CPU code is x86-64-v3 and runs
# on that machine's other CPU, and -DEDAT_OPENBLAS=OFF (Eigen's own GEMM for the CPU ops: OpenBLAS, 37 MB, is not
# worth carrying for the CPU side of a GPU check). cuBLAS (libcublas.so.13) and cuDNN (libcudnn.so.9) stay shared:
# gpu_check.sh finds them in PyTorch's pip packages there (torch 2.11+cu130: CUDA 13 and cuDNN 9, the majors this
# build links to).
#
# gpu_bundle/bundle.tar.xz (xz: the binaries shrink 4x, about 5 MiB -> 1.3 MiB each; unpacked there by gpu_check.sh)
#   bin/         stripped binaries: the CUDA-carrying tests, train_resnet, bench_train_gpu
#   lib/         every shared library the binaries resolve here (ldd), but those the GPU machine supplies itself:
#                glibc, libstdc++/libgcc, the driver, and cuBLAS/cuDNN/NVRTC (scripts/gpu_bundle_libs.sh says why);
#                gpu_check.sh uses a copy only when that machine has none of its own. The script fails when a
#                bundled binary or library needs something neither carried nor supplied, or when `ldd -r` with
#                only lib/ added reports a library not found or a symbol undefined.
#   tools/       cuobjdump and compute-sanitizer from NVIDIA's PyPI wheels (scripts/get_gpu_tools.sh)
#   source_dir   the source folder the build was configured from: the tests open fixtures by absolute paths under
#                it, so gpu_check.sh links that path to the checkout there
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
build_dir="${BUILD_DIR:-build-gpu}"

source scripts/cuda_tests.sh  # cuda_test_binaries: the tests gpu_check.sh runs
tests=("${cuda_test_binaries[@]}")
apps=(train_resnet bench_train_gpu cuda_info)
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DEDAT_CUDA=ON -DEDAT_NATIVE=OFF \
  -DEDAT_OPENBLAS=OFF -DEDAT_BUILD_FUZZERS=OFF >/dev/null
cmake --build "$build_dir" -j"${JOBS:-2}" --target "${tests[@]}" "${apps[@]}"

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin" "$stage/lib"
for name in "${tests[@]}" "${apps[@]}"; do
  path=$(find "$build_dir" -maxdepth 2 -type f -name "$name" -perm -u+x | head -n 1)
  [[ -n "$path" ]] || { echo "prepare_gpu_bundle.sh: $name was not built in $build_dir" >&2; exit 1; }
  strip -o "$stage/bin/$name" "$path"
done
bash scripts/gpu_bundle_libs.sh copy "$stage/lib" "$stage"/bin/*
bash scripts/gpu_bundle_libs.sh check "$stage/lib" "$stage"/bin/*
# cuobjdump and compute-sanitizer (the GPU machine's toolkit may lack them, and it has no network).
bash scripts/get_gpu_tools.sh
cp -r gpu_tools "$stage/tools"
sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$build_dir/CMakeCache.txt" >"$stage/source_dir"
du -b "$stage"/bin/* "$stage"/lib/* | sort -n
rm -rf gpu_bundle
mkdir -p gpu_bundle
tar -C "$stage" -cf - bin lib tools source_dir | xz -6 -T"${JOBS:-2}" >gpu_bundle/bundle.tar.xz
echo "prepare_gpu_bundle.sh: gpu_bundle/bundle.tar.xz holds $(du -b gpu_bundle/bundle.tar.xz | cut -f1) bytes"
