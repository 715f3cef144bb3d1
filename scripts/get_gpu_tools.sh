#!/usr/bin/env bash
# Fetches the CUDA tools scripts/gpu_check.sh uses that neither this machine's toolkit nor the GPU machine has:
# cuobjdump (is there sm_90 code in the binaries?) and compute-sanitizer (memcheck, racecheck, synccheck), from
# NVIDIA's PyPI wheels of an exact version, checked by sha256, into gpu_tools/ (ignored by git).
# prepare_gpu_bundle.sh packs them into the bundle (the GPU machine has no network); gpu_check.sh's CPU mode uses
# cuobjdump from here.
#
#   bash scripts/get_gpu_tools.sh                  # both
#   bash scripts/get_gpu_tools.sh cuobjdump        # only cuobjdump (0.3 MB; what the CPU mode needs)
#
# compute-sanitizer 13.0 matches the CUDA 13.0 toolkit edat is built with (so it runs on any driver that runs edat);
# its HTML documentation is left out. About 14 MB of wheels, 35 MB unpacked.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out=gpu_tools
wanted=("${@:-cuobjdump compute-sanitizer}")
read -r -a wanted <<<"${wanted[*]}"

# name|wheel requirement|sha256 of the wheel
wheels=(
  "cuobjdump|nvidia-cuda-cuobjdump==13.2.51|95c69d3ddf0c2c1f535ec44c3433a66aeee19f588d9d22f73356e20b25f12b50"
  "compute-sanitizer|nvidia-cuda-sanitizer-api==13.0.85|b1efff95f63b6fe40dc83801d598550542364393957775912a1abf396904331c"
)

# Where each tool's executable lands (scripts/gpu_check.sh looks there too).
tool_path() { [[ $1 == cuobjdump ]] && echo "$out/cuobjdump/cuobjdump" || echo "$out/compute-sanitizer/bin/compute-sanitizer"; }

download=$(mktemp -d)
trap 'rm -rf "$download"' EXIT
mkdir -p "$out"
for entry in "${wheels[@]}"; do
  IFS='|' read -r name requirement sha <<<"$entry"
  [[ " ${wanted[*]} " == *" $name "* ]] || continue
  if [[ -x "$(tool_path "$name")" ]]; then
    echo "get_gpu_tools.sh: $(tool_path "$name") is there"
    continue
  fi
  pip download --no-deps --quiet --dest "$download/$name" "$requirement"
  wheel=$(ls "$download/$name"/*.whl)
  echo "$sha  $wheel" | sha256sum --check --quiet || {
    echo "get_gpu_tools.sh: $(basename "$wheel") does not have the recorded sha256 $sha" >&2
    exit 1
  }
  rm -rf "${out:?}/$name" && mkdir -p "$out/$name"
  case "$name" in
    cuobjdump) unzip -q -j "$wheel" 'nvidia/*/bin/cuobjdump' -d "$out/$name" ;;
    # The wheel's bin/ (the tool) and lib/ (the libraries it injects) keep their places relative to each other.
    compute-sanitizer)
      unzip -q "$wheel" 'nvidia/*/bin/*' 'nvidia/*/lib/*' -d "$download/x"
      cp -r "$download"/x/nvidia/*/bin "$download"/x/nvidia/*/lib "$out/$name/" ;;
  esac
  echo "get_gpu_tools.sh: $(tool_path "$name") from $requirement"
done
