#!/usr/bin/env bash
# The shared libraries a GPU bundle carries, chosen from the binaries' own needs rather than a hand-kept list.
#
#   bash scripts/gpu_bundle_libs.sh copy  LIB_DIR BINARY...   copy every library the binaries resolve (ldd), but
#                                                              those the GPU machine supplies itself, into LIB_DIR
#   bash scripts/gpu_bundle_libs.sh check LIB_DIR BINARY...   fail unless every library the binaries (and the copied
#                                                              libraries) need is in LIB_DIR or supplied there, and
#                                                              `ldd -r` with LIB_DIR added finds every library and symbol
#
# What the GPU machine supplies, so it is not carried:
#   - glibc (libc, libm, libpthread, libdl, librt, ld-linux ...), libstdc++ and libgcc_s: every Linux system has them;
#   - the NVIDIA driver (libcuda, libnvidia-*): it must match the kernel module, so it is never carried;
#   - cuBLAS, cuBLASLt, cuDNN and NVRTC: PyTorch's pip `nvidia` packages there hold them (hundreds of MB, far over
#     the 64 MiB the device tool carries); scripts/gpu_check.sh puts their folders on LD_LIBRARY_PATH.
# Everything else (libjpeg, libturbojpeg, libzip, libgomp, compression and crypto libraries ...) is carried. The
# `check` mode is what makes a missing one fail here, before a device minute is spent: it reads each file's NEEDED
# entries (readelf) instead of trusting ldd, which on this machine finds everything in the system folders anyway.
# ctest runs it on the CUDA build (test gpu_bundle_carries_its_libraries); prepare_gpu_bundle.sh on the bundle.
set -uo pipefail

# Sonames the GPU machine supplies (see above).
supplied_there() {
  case "$1" in
    linux-vdso.so* | ld-linux*.so* | libc.so.* | libm.so.* | libmvec.so.* | libpthread.so.* | libdl.so.* | \
      librt.so.* | libresolv.so.* | libutil.so.* | libstdc++.so.* | libgcc_s.so.*) return 0 ;;
    libcuda.so* | libnvidia-*.so*) return 0 ;;
    libcublas.so.* | libcublasLt.so.* | libcudnn*.so* | libnvrtc*.so*) return 0 ;;
  esac
  return 1
}

# The sonames a file names as NEEDED in its dynamic section.
needed_by() { readelf -d "$1" 2>/dev/null | sed -n 's/.*(NEEDED).*Shared library: \[\(.*\)\]/\1/p'; }

copy_libs() {
  local lib_dir=$1 bin name path
  shift
  mkdir -p "$lib_dir"
  for bin in "$@"; do
    # ldd resolves the whole tree (a library's own needs too): "soname => /path (address)".
    while read -r name path; do
      supplied_there "$name" && continue
      [[ -e "$lib_dir/$name" ]] || cp -L "$path" "$lib_dir/$name" || return 1
    done < <(ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// { print $1, $3 }')
  done
}

check_libs() {
  local lib_dir=$1 file name problems=0 report
  shift
  for file in "$@" "$lib_dir"/*; do
    [[ -f "$file" ]] || continue
    for name in $(needed_by "$file"); do
      supplied_there "$name" || [[ -e "$lib_dir/$name" ]] ||
        { echo "gpu_bundle_libs.sh: $(basename "$file") needs $name, which the bundle lacks"; problems=1; }
    done
  done
  for file in "$@"; do
    report=$(LD_LIBRARY_PATH="$lib_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" ldd -r "$file" 2>&1 |
      grep -E 'not found|undefined symbol')
    [[ -z "$report" ]] || { echo "gpu_bundle_libs.sh: ldd -r $(basename "$file"):"; echo "$report"; problems=1; }
  done
  ((problems == 0)) && echo "gpu_bundle_libs.sh: $# binaries: every library is carried in $lib_dir or supplied there"
  return "$problems"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  mode=${1:-}
  [[ $# -ge 3 && ($mode == copy || $mode == check) ]] || {
    echo "usage: gpu_bundle_libs.sh copy|check LIB_DIR BINARY..." >&2
    exit 2
  }
  shift
  if [[ $mode == copy ]]; then copy_libs "$@"; else check_libs "$@"; fi
fi
