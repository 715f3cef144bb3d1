#!/usr/bin/env bash
# Makes the small UTKFace subset that travels to the GPU machine for scripts/gpu_check.sh's short training run
# (that machine cannot reach ../shared, and what travels is limited to 64 MiB in all, binaries included).
#
#   bash scripts/prepare_gpu_data.sh [--count 4000] [--size 128] [--quality 90] [--src ../shared/data/utkface/images]
#
# Writes gpu_data/ (ignored by git): images/NAME.jpg re-encoded at SIZE x SIZE (UTKFace's aligned faces are square),
# and train.csv with `path,age` rows for `train_resnet --dataset csv --data-root gpu_data --train-csv
# gpu_data/train.csv`. Every (N/COUNT)-th file of the sorted list is taken, so the subset is the same on every run
# and spans all ages; the age is the first field of UTKFace's file name (AGE_GENDER_RACE_DATE.jpg.chip.jpg).
# About 4 KiB per image at 128 px and quality 90: 4,000 images are about 16 MiB.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

count=4000 size=128 quality=90 src=../shared/data/utkface/images out=gpu_data
while [[ $# -gt 0 ]]; do
  case "$1" in
    --count) count="$2"; shift 2 ;;
    --size) size="$2"; shift 2 ;;
    --quality) quality="$2"; shift 2 ;;
    --src) src="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    *) echo "prepare_gpu_data.sh: unknown argument '$1' (see the header of this script)" >&2; exit 2 ;;
  esac
done
[[ -d "$src" ]] || { echo "prepare_gpu_data.sh: no UTKFace images at '$src' (give --src)" >&2; exit 1; }
# Pillow is needed for the re-encoding; Debian's python3 (with torch) has it, the python3 on PATH may not.
python=python3
"$python" -c "import PIL" 2>/dev/null || python=/usr/bin/python3
if ! "$python" -c "import PIL" 2>/dev/null; then
  echo "prepare_gpu_data.sh: needs Pillow (python3 -m pip install pillow)" >&2
  exit 1
fi

rm -rf "$out"
mkdir -p "$out/images"
"$python" - "$src" "$out" "$count" "$size" "$quality" <<'PY'
import os, sys
from PIL import Image
src, out, count, size, quality = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
names = sorted(n for n in os.listdir(src) if n.lower().endswith((".jpg", ".jpeg")) and n.split("_")[0].isdigit())
if len(names) < count:
    sys.exit(f"prepare_gpu_data.sh: only {len(names)} labelled images in {src}, fewer than --count {count}")
picked = [names[i * len(names) // count] for i in range(count)]
rows = ["path,age"]
for name in picked:
    stem = name.split(".")[0]  # 25_0_1_2017...jpg.chip.jpg -> 25_0_1_2017...
    with Image.open(os.path.join(src, name)) as im:
        im.convert("RGB").resize((size, size), Image.BICUBIC).save(
            os.path.join(out, "images", stem + ".jpg"), quality=quality)
    rows.append(f"images/{stem}.jpg,{int(name.split('_')[0])}")
with open(os.path.join(out, "train.csv"), "w") as f:
    f.write("\n".join(rows) + "\n")
PY
echo "prepare_gpu_data.sh: $count images in $out/images, labels in $out/train.csv, $(du -sh "$out" | cut -f1) in all"
