#!/usr/bin/env bash
# The application's command lines end to end (train_resnet, evaluate_age, predict_age) on a tiny generated dataset:
# flags, --config, --resume rules, SIGINT, exit codes and the messages of bad input.
#
#   tests/apps_test.sh BIN_DIR SCRATCH_DIR CONFIGS_DIR [SHARED_DATA_DIR]     (ctest runs it)
set -uo pipefail
bin=$1 scratch=$2 configs=$3 shared=${4:-}
source "$(dirname "${BASH_SOURCE[0]}")/expect.sh"
rm -rf "$scratch" && mkdir -p "$scratch" && cd "$scratch" || exit 1

"$bin/make_demo_faces" --out faces --count 40 --size 48 --no-full-images >/dev/null || exit 1
tiny=(--data-root faces --arch resnet18 --img-size 32 --resize 36 --batch-size 8 --epochs 2 --workers 1)

# --help explains, and lists every architecture.
expect 0 "resnet34.*--max-steps|--max-steps" -- "$bin/train_resnet" --help
expect 0 "Architectures: resnet18, resnet34, resnet50, mobilenet_v2, vgg16, vgg16_bn" -- "$bin/train_resnet" --help

# A run, then its outputs.
expect 0 "MAE .* always predicting the training median" -- "$bin/train_resnet" "${tiny[@]}" --out run
for f in config.json metrics.csv train.log best.safetensors final.safetensors checkpoint.safetensors report.html \
         predictions.csv results.json; do
  [[ -s run/$f ]] || fail "run/$f missing"
done
ls run/events.out.tfevents.* >/dev/null 2>&1 || fail "no TensorBoard event file in run/"
expect 0 "^epoch,step,train_loss,valid_loss,valid_mae,valid_rmse,lr" -- head -1 run/metrics.csv

# The other backbones train through the same app (MobileNetV2 keeps its own dropout 0.2 before the head).
expect 0 "model: mobilenet_v2, finetune" -- "$bin/train_resnet" "${tiny[@]}" \
  --arch mobilenet_v2 --max-steps 2 --out run_mobilenet

# Progress: a bar redrawn in place on a terminal (script(1) gives the run one), plain lines in a log.
if command -v script >/dev/null; then
  expect 0 "epoch 1/1 \[=+>? *\] [0-9]+/6 .*img/s  loss .*ETA" -- bash -c "script -qec '$bin/train_resnet ${tiny[*]} \
    --batch-size 4 --epochs 1 --max-steps 3 --progress-seconds 0 --out run_tty' /dev/null | tr '\r' '\n'"
fi
expect 0 "^epoch 1/1: batch [0-9]+/6, [0-9]+ img/s, loss [0-9.]+, ETA" -- "$bin/train_resnet" "${tiny[@]}" \
  --batch-size 4 --epochs 1 --max-steps 3 --progress-seconds 0 --out run_log

# evaluate_age and predict_age read the weights' own description.
expect 0 "MAE [0-9.]+" -- "$bin/evaluate_age" --weights run/best.safetensors --data-root faces --split test \
  --predictions preds.csv
expect 0 "^image,true_age,predicted_age,abs_error" -- head -1 preds.csv
expect 0 "\"mae\": [0-9.]+" -- "$bin/evaluate_age" --weights run/best.safetensors --data-root faces --split test --json
image=$(ls faces/test/*_face.jpg | head -1)
# --tta flip: the mean of each image's and its mirror's age.
expect 0 "MAE [0-9.]+" -- "$bin/evaluate_age" --weights run/best.safetensors --data-root faces --split test --tta flip
expect 0 ": [0-9]+\.[0-9]$" -- "$bin/predict_age" --weights run/best.safetensors --tta flip "$image"
expect 0 ": [0-9]+\.[0-9]$" -- "$bin/predict_age" --weights run/best.safetensors --tta none "$image"
expect 0 "--tta TEXT:\{none,flip\}=flip|=flip" -- "$bin/predict_age" --help  # flip is predict_age's default
expect 105 "--tta" -- "$bin/predict_age" --weights run/best.safetensors --tta mirror \
  "$image"
expect 0 ": [0-9]+\.[0-9]$" -- "$bin/predict_age" --weights run/best.safetensors "$image"
expect 0 "\"age\": [0-9.]+" -- "$bin/predict_age" --weights run/best.safetensors --json "$image" "$image"

# --config: keys are flag names, flags override, unknown keys are named.
echo '{"arch": "resnet18", "epochs": 1, "img-size": 32, "resize": 36, "batch-size": 8}' >recipe.json
expect 0 "training 1 epochs" -- "$bin/train_resnet" --config recipe.json --data-root faces --workers 1 --out run_cfg
expect 0 "training 2 epochs" -- "$bin/train_resnet" --config recipe.json --epochs 2 --data-root faces --out run_cfg2 \
  --max-steps 1
echo '{"arch": "resnet18", "batch_size": 8}' >typo.json
expect 1 "unknown setting 'batch_size'" -- "$bin/train_resnet" --config typo.json --data-root faces --out run_typo
for recipe in "$configs"/*.json; do
  expect 1 "data-root is required" -- "$bin/train_resnet" --config "$recipe" --out run_recipe
done
# A recipe's pretrained/ path is missing here: the message says where it was looked for and how to make it, and no
# run folder is left behind.
expect 1 "--pretrained pretrained/resnet34.safetensors: no such file .*convert_weights" -- "$bin/train_resnet" \
  --config "$configs/appa_real_apparent.json" --data-root faces --out run_nopre
[[ -e run_nopre ]] && fail "a run folder was created for a run that could not start"

# --max-steps stops with a checkpoint; --resume continues; it refuses other settings.
expect 0 "stopped by --max-steps after step 3" -- "$bin/train_resnet" "${tiny[@]}" --max-steps 3 --out run_stop
[[ -s run_stop/last.safetensors ]] || fail "no last.safetensors after --max-steps"
[[ -e run_stop/final.safetensors ]] && fail "final.safetensors after --max-steps: a stopped run's are last.safetensors"
[[ -s run_stop/report.html ]] || fail "no report after --max-steps in the first epoch"
expect 1 "--lr 0.1 differs from run_stop/config.json" -- "$bin/train_resnet" --resume run_stop --lr 0.1
expect 0 "resumed from .*step 3" -- "$bin/train_resnet" --resume run_stop --epochs 3 --workers 2
expect 1 "already holds a run" -- "$bin/train_resnet" "${tiny[@]}" --out run_stop

# SIGINT: the step finishes, a checkpoint is written, the exit code is 130, and the run resumes.
"$bin/train_resnet" "${tiny[@]}" --epochs 50 --out run_int >int.log 2>&1 &  # the last --epochs wins
pid=$!
for _ in $(seq 1 600); do [[ -f run_int/checkpoint.safetensors ]] && break; sleep 0.1; done
# While it runs, the folder is locked: a second train_resnet there is refused (resumed or not).
expect 1 "run folder 'run_int' is in use by another train_resnet \(process $pid\)" -- \
  "$bin/train_resnet" --resume run_int
kill -INT $pid
wait $pid
status=$?
[[ $status -eq 130 ]] || fail "SIGINT: exit code $status, expected 130: $(tail -3 int.log)"
grep -q "interrupted after step" int.log || fail "SIGINT: no 'interrupted' line: $(tail -3 int.log)"
expect 0 "resumed from" -- "$bin/train_resnet" --resume run_int --epochs 1 --max-steps 0

# Bad input: clear messages, non-zero exits.
expect 1 "faces_missing" -- "$bin/train_resnet" --data-root faces_missing --out run_bad1
expect 1 "--dataset: unknown value 'imagenet'" -- "$bin/train_resnet" --dataset imagenet --data-root faces --out r
expect 1 "--arch: unknown value 'resnet35'.*resnet34" -- "$bin/train_resnet" --arch resnet35 --data-root faces --out r
expect 1 "no checkpoint.safetensors" -- "$bin/train_resnet" --resume no_such_run
mkdir -p empty/train empty/valid empty/test
printf 'file_name,num_ratings,apparent_age_avg,apparent_age_std,real_age\n' | tee empty/gt_avg_{train,valid,test}.csv >/dev/null
expect 1 "no usable|empty|no sample" -- "$bin/train_resnet" --data-root empty --out run_empty
expect 1 "holds a resnet18 model, not resnet34" -- "$bin/predict_age" --weights run/best.safetensors --arch resnet34 "$image"
expect 1 "not_there.jpg" -- "$bin/predict_age" --weights run/best.safetensors not_there.jpg
expect 1 "does not fit" -- "$bin/evaluate_age" --weights run_stop/checkpoint.safetensors --data-root faces
# A PNG whose header claims 16384 x 16384 pixels (4 GB once decoded and transformed) is refused from the header.
printf '\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR\x00\x00\x40\x00\x00\x00\x40\x00\x08\x02\x00\x00\x00\x00\x00\x00\x00' >huge.png
printf '\x00\x00\x00\x00IEND\xaeB`\x82' >>huge.png
expect 1 "huge.png: it is 16384x16384, more than the limit of 67108864 pixels" -- \
  "$bin/predict_age" --weights run/best.safetensors huge.png
expect 0 "max-pixels" -- "$bin/predict_age" --help

# convert_weights --arch NAME --match-by-order: names by position, every shape checked, the first mismatch named.
# (A .pth keeps the state dict's order; a safetensors file does not.)
pth=$configs/../tests/fixtures/resnet34_strided.pth
expect 0 "218 tensors matched by order onto resnet34" -- "$bin/convert_weights" "$pth" by_order.safetensors \
  --arch resnet34 --match-by-order --num-classes 1
expect 1 "tensor 217 'fc.weight' \[1, 512\] does not fit the model's tensor 217 'fc.weight' \[1000, 512\]" -- \
  "$bin/convert_weights" "$pth" bad.safetensors --arch resnet34 --match-by-order
expect 1 "tensor 3[0-9] 'layer1.2.conv1.weight' \[64, 64, 3, 3\] does not fit the model's tensor 3[0-9] 'layer2.0.conv1.weight' \[128, 64, 3, 3\]" \
  -- "$bin/convert_weights" "$pth" bad.safetensors --arch resnet18 --match-by-order
expect 1 "go together" -- "$bin/convert_weights" "$pth" bad.safetensors --match-by-order
expect 1 "keeps no state-dict order" -- "$bin/convert_weights" run/final.safetensors bad.safetensors --arch resnet18 \
  --match-by-order
expect 0 "pretrained: by_order.safetensors: loaded 218 tensors" -- "$bin/train_resnet" "${tiny[@]}" --arch resnet34 \
  --max-steps 1 --pretrained by_order.safetensors --out run_by_order

# predict_age answers every image: a bad one is an error entry (valid JSON all the same), the others still get ages,
# and the exit code says that one failed.
printf 'not an image' >broken.jpg
expect 1 "broken.jpg" -- "$bin/predict_age" --weights run/best.safetensors "$image" broken.jpg "$image"
"$bin/predict_age" --weights run/best.safetensors "$image" broken.jpg "$image" >mixed.txt 2>mixed.err
[[ $(grep -cE ": [0-9]+\.[0-9]$" mixed.txt) -eq 2 ]] || fail "a bad image stopped the others: $(cat mixed.txt)"
"$bin/predict_age" --weights run/best.safetensors --json "$image" broken.jpg not_there.jpg >mixed.json 2>/dev/null
[[ $? -eq 1 ]] || fail "predict_age --json with bad images did not exit 1"
if command -v python3 >/dev/null; then
  expect 0 "^ok$" -- python3 -c '
import json, sys
r = json.load(open("mixed.json"))
assert [e["image"] for e in r] == [sys.argv[1], "broken.jpg", "not_there.jpg"], r
assert len(r[0]["faces"]) == 1 and r[0]["faces"][0]["box"] is None and r[0]["faces"][0]["age"] >= 0, r[0]
assert "error" in r[1] and "faces" not in r[1] and "not_there.jpg" in r[2]["error"], r
print("ok")' "$image"
fi
# A weights file that cannot be read is every image's error, still as JSON.
expect 1 '"error": .*no_such.safetensors' -- "$bin/predict_age" --weights no_such.safetensors --json "$image"
# Without --detect-face no face check is made, and it says so.
expect 0 "warning: no face check was made" -- "$bin/predict_age" --weights run/best.safetensors "$image"
# Another --img-size than the trained one changes the answer: a warning.
expect 0 "warning: --img-size 40 differs from the 32 px" -- "$bin/predict_age" --weights run/best.safetensors \
  --img-size 40 "$image"
# Ages are clamped into [0, the oldest training age]: with edat.max_age edited to 1 every age is 1.0, and it says so.
# (The same number of characters keeps the header's length: "1.000...".)
max_age=$(LC_ALL=C grep -aoE '"edat.max_age":"[0-9.]+"' run/best.safetensors | cut -d'"' -f4)
one=1.; while ((${#one} < ${#max_age})); do one+=0; done
LC_ALL=C sed "s/\"edat.max_age\":\"$max_age\"/\"edat.max_age\":\"${one:0:${#max_age}}\"/" run/best.safetensors >max1.safetensors
cmp -s run/best.safetensors max1.safetensors && fail "no edat.max_age in run/best.safetensors"
expect 0 ": 1\.0 \(clamped from [0-9.]+\)$" -- "$bin/predict_age" --weights max1.safetensors "$image"
expect 0 "clamped into the model's range \[0, 1\]" -- "$bin/predict_age" --weights max1.safetensors "$image"

# predict_age --detect-face and crop_faces on real photos (../shared, when present and the build has dlib).
if [[ -n $shared && -f $shared/faces/dogs.jpg ]] && "$bin/predict_age" --help | grep -q -- --detect-face &&
   ! "$bin/predict_age" --weights run/best.safetensors --detect-face "$image" 2>&1 | grep -q "no face detector"; then
  expect 1 "dogs.jpg: no face found" -- "$bin/predict_age" --weights run/best.safetensors --detect-face \
    "$shared/faces/dogs.jpg"
  # Every face of a group photo, with its box and score (testing.xml labels 6 faces of 37 to 52 px in this one).
  group=$shared/faces/2008_002470.jpg
  "$bin/predict_age" --weights run/best.safetensors --detect-face "$group" >group.txt 2>&1
  faces=$(grep -cE "2008_002470.jpg: face [0-9]+ of [0-9]+ at \[[0-9]+, [0-9]+, [0-9]+, [0-9]+\], score [0-9.-]+: [0-9.]+$" \
    group.txt)
  [[ $faces -ge 5 ]] || fail "group photo: $faces faces with boxes, expected at least 5 of 6: $(cat group.txt)"
  ! grep -q "no face check" group.txt || fail "--detect-face still warned that no face check was made"
  expect 1 '"box": \[' -- "$bin/predict_age" --weights run/best.safetensors --detect-face --json "$group" \
    "$shared/faces/dogs.jpg"
  # crop_faces and predict_age share one --upsample default.
  up_crop=$("$bin/crop_faces" --help | grep -E -- "--upsample" | grep -oE "=[0-9]+")
  up_predict=$("$bin/predict_age" --help | grep -E -- "--upsample" | grep -oE "=[0-9]+")
  [[ -n $up_crop && $up_crop == "$up_predict" ]] || fail "--upsample defaults differ: crop_faces $up_crop, predict_age $up_predict"
  # crop_faces reads ages from file names only when told how: 2008_002079.jpg is not 2008 years old.
  mkdir -p named
  utk=$(ls "$shared"/utkface/images | grep -E "^2[0-9]_" | head -1)
  cp "$shared/utkface/images/$utk" named/ && cp "$shared/utkface/images/$utk" named/2008_002079.jpg
  expect 0 "2 kept" -- "$bin/crop_faces" --data-root named --out named_crops
  expect 0 "^path,age" -- head -1 named_crops/faces.csv
  [[ $(cut -d, -f2 named_crops/faces.csv | tail -n +2 | tr -d '\n') == "" ]] ||
    fail "crop_faces without --age-from-name wrote ages: $(cat named_crops/faces.csv)"
  expect 0 "matched 2 of 2 file names" -- "$bin/crop_faces" --data-root named --out named_ages \
    --age-from-name '^([0-9]+)_'
  grep -q "^${utk%.jpg*}.*,${utk%%_*}," named_ages/faces.csv || fail "no age ${utk%%_*} for $utk: $(cat named_ages/faces.csv)"
  expect 0 "matched 0 of 2" -- "$bin/crop_faces" --data-root named --out named_none --age-from-name '^age([0-9]+)'
  expect 1 "has no group" -- "$bin/crop_faces" --data-root named --out named_bad --age-from-name '^[0-9]+_'
  expect 1 "is not a regular expression" -- "$bin/crop_faces" --data-root named --out named_bad --age-from-name '(['
  # The weights record how the training images were cropped (crop_faces' face_crop.txt), and predict_age crops
  # photos the same way unless told otherwise, which is a warning.
  expect 0 "^box margin=0.4$" -- cat named_crops/face_crop.txt
  rm -rf boxed && cp -r faces boxed && echo "box margin=0.3" >boxed/face_crop.txt
  expect 0 "stopped by --max-steps" -- "$bin/train_resnet" "${tiny[@]}" --data-root boxed --max-steps 1 --out run_boxed
  expect 0 '"edat.face_crop":"box margin=0.3"' -- grep -ao '"edat.face_crop":"[^"]*"' run_boxed/last.safetensors
  "$bin/predict_age" --weights run_boxed/last.safetensors "$group" >boxed.txt 2>&1
  grep -qE "face 1 of [0-9]+ at \[" boxed.txt && ! grep -q "no face check" boxed.txt ||
    fail "predict_age did not crop as the model's training images were: $(cat boxed.txt)"
  expect 0 "trained on 'box margin=0.3' crops, these are 'box margin=0.5'" -- "$bin/predict_age" \
    --weights run_boxed/last.safetensors --detect-face --margin 0.5 "$group"
  expect 0 "trained on 'box margin=0.3' crops, these are 'box margin=0.6'" -- "$bin/predict_age" \
    --weights run_boxed/last.safetensors --margin 0.6 "$group"
  ! "$bin/predict_age" --weights run_boxed/last.safetensors --detect-face --margin 0.3 "$group" 2>&1 |
    grep -q "trained on" || fail "the trained crop was warned about"
  # --align: dlib's aligned chips, with the landmark model of scripts/get_pretrained.sh when it is installed.
  landmarks=$configs/../pretrained/shape_predictor_5_face_landmarks.dat
  expect 1 "no landmark model at 'no_such.dat'.*get_pretrained.sh" -- "$bin/predict_age" \
    --weights run/best.safetensors --align --landmarks no_such.dat "$group"
  if [[ -f $landmarks ]]; then
    expect 0 "2 kept" -- "$bin/crop_faces" --data-root named --out named_aligned --align --landmarks "$landmarks"
    expect 0 "^aligned padding=0.2$" -- cat named_aligned/face_crop.txt
    expect 0 "face 1 of [0-9]+ at \[" -- "$bin/predict_age" --weights run/best.safetensors --align \
      --landmarks "$landmarks" "$group"
  else
    echo "skipped: --align with the landmark model (run scripts/get_pretrained.sh)"
  fi
else
  echo "skipped: predict_age --detect-face and crop_faces on real photos (no ../shared/data/faces or no dlib)"
fi

# The shipped model (trained-models/, docs/model_card.md) is predict_age's default, found from any folder; it aligns
# faces with the landmark model of scripts/get_pretrained.sh, as its training faces were cut.
expect 108 "excludes" -- "$bin/predict_age" --whole-image --detect-face "$image"
shipped=$configs/../trained-models/age_mobilenet_v2_utkface.safetensors
landmarks=$configs/../pretrained/shape_predictor_5_face_landmarks.dat
if [[ -f $shipped ]]; then
  expect 0 "--weights TEXT=.*trained-models/age_mobilenet_v2_utkface.safetensors" -- "$bin/predict_age" --help
  expect 0 ": [0-9]+\.[0-9]$" -- "$bin/predict_age" --whole-image "$image"
  expect 0 "trained on 'aligned padding=0.2' crops, these are 'none'" -- "$bin/predict_age" --whole-image "$image"
  if [[ -f $landmarks && -n $shared && -f $shared/faces/2008_002470.jpg ]]; then
    "$bin/predict_age" "$shared/faces/2008_002470.jpg" >shipped.txt 2>&1
    faces=$(grep -cE "face [0-9]+ of [0-9]+ at \[.*\], score [0-9.-]+: [0-9.]+$" shipped.txt)
    [[ $faces -ge 5 ]] || fail "the shipped model on the group photo: $faces faces, expected at least 5: $(cat shipped.txt)"
    ! grep -qE "no face check|trained on" shipped.txt || fail "the shipped model's defaults warned: $(cat shipped.txt)"
    expect 1 "dogs.jpg: no face found" -- "$bin/predict_age" "$shared/faces/dogs.jpg"
  else
    echo "skipped: the shipped model on photos (no landmark model: scripts/get_pretrained.sh, or no ../shared)"
  fi
else
  echo "skipped: the shipped model (no trained-models/ in this tree)"
fi

echo "$failures failure(s)"
exit $((failures > 0))
