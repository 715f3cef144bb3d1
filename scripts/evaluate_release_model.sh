#!/usr/bin/env bash
# The numbers of docs/model_card.md, after scripts/train_release_model.sh (same WORK folder):
#   1. the validation faces (the aligned chips the run held out) through evaluate_age, plain and with --tta flip;
#   2. end to end as a user runs it: predict_age --json (face detection + alignment, the defaults) on the original
#      UTKFace images of the same faces, counting the images where no face was found;
#   3. MAE, RMSE, CS(5) per age bucket, gender and race (scripts/model_card_stats.py) of each.
#
#   bash scripts/evaluate_release_model.sh        # a few minutes on 2 CPU cores
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
build=${BUILD_DIR:-build} shared=${SHARED:-../shared}/data/utkface work=${WORK:-runs/release}
model=${MODEL:-trained-models/age_mobilenet_v2_utkface.safetensors}
held_out=$work/train/predictions.csv  # the run's validation faces (it has no test split), with the best weights
[[ -f $held_out ]] || { echo "evaluate_release_model: $held_out not found: run scripts/train_release_model.sh" >&2; exit 1; }

# path,age of the held-out chips (paths relative to the chips' folder), and the original images of the same faces.
awk -F, 'NR == 1 { print "path,age"; next } { n = split($1, p, "/"); print p[n] "," $2 }' "$held_out" >"$work/valid.csv"
tail -n +2 "$work/valid.csv" | cut -d, -f1 | sed "s|^|$shared/images/|" >"$work/valid_originals.txt"

for tta in none flip; do
  "$build/apps/evaluate_age" --weights "$model" --dataset csv --data-root "$work/faces" --csv "$work/valid.csv" \
    --tta "$tta" --predictions "$work/valid_$tta.csv" >/dev/null
  echo "## validation chips, --tta $tta"
  python3 scripts/model_card_stats.py "$work/valid_$tta.csv"
done

for tta in none flip; do
  xargs -n 500 -a "$work/valid_originals.txt" "$build/apps/predict_age" --weights "$model" --json --tta "$tta" \
    >"$work/predict_$tta.json" 2>/dev/null || true
  python3 - "$work/predict_$tta.json" "$work/predict_$tta.csv" <<'PY'
import csv, json, os, sys
text, results, at = open(sys.argv[1]).read(), [], 0  # one JSON array per predict_age call of xargs
decoder = json.JSONDecoder()
while text[at:].strip():
    chunk, at = decoder.raw_decode(text, at + len(text[at:]) - len(text[at:].lstrip()))
    results += chunk
failed = [r for r in results if "error" in r]
with open(sys.argv[2], "w", newline="") as f:
    out = csv.writer(f)
    out.writerow(["image", "true_age", "predicted_age", "abs_error"])
    for r in results:
        if "error" in r:
            continue
        truth = float(os.path.basename(r["image"]).split("_")[0])
        age = r["faces"][0]["age"]  # the most confident face
        out.writerow([r["image"], truth, age, abs(age - truth)])
print(f"predict_age: {len(results)} images, {len(failed)} without an answer (no face found)")
PY
  echo "## predict_age on the original images, --tta $tta"
  python3 scripts/model_card_stats.py "$work/predict_$tta.csv"
done
