#!/usr/bin/env bash
# The application's command lines end to end (train_resnet, evaluate_age, predict_age) on a tiny generated dataset:
# flags, --config, --resume rules, SIGINT, exit codes and the messages of bad input.
#
#   tests/apps_test.sh BIN_DIR SCRATCH_DIR CONFIGS_DIR [SHARED_DATA_DIR]     (ctest runs it)
set -uo pipefail
bin=$1 scratch=$2 configs=$3 shared=${4:-}
rm -rf "$scratch" && mkdir -p "$scratch" && cd "$scratch" || exit 1
failures=0

fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
# expect CODE PATTERN -- COMMAND...: the command exits with CODE and its output matches PATTERN (grep -E).
expect() {
  local code=$1 pattern=$2
  shift 3
  local output status
  output=$("$@" 2>&1)
  status=$?
  if [[ $status -ne $code ]]; then
    fail "'$*' exited with $status, expected $code; output: ${output: -600}"
  elif ! grep -qE -- "$pattern" <<<"$output"; then
    fail "'$*' output lacks /$pattern/: ${output: -600}"
  else
    echo "ok: $* -> $code /$pattern/"
  fi
}

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

# predict_age --detect-face on real photos (../shared, when present and the build has dlib).
if [[ -n $shared && -f $shared/faces/dogs.jpg ]] && "$bin/predict_age" --help | grep -q -- --detect-face &&
   ! "$bin/predict_age" --weights run/best.safetensors --detect-face "$image" 2>&1 | grep -q "no face detector"; then
  expect 1 "dogs.jpg: no face found" -- "$bin/predict_age" --weights run/best.safetensors --detect-face \
    "$shared/faces/dogs.jpg"
  group=$(ls "$shared"/faces/*.jpg | grep -v dogs | head -1)
  expect 0 "faces found; using the most confident|: [0-9]+\.[0-9]$" -- "$bin/predict_age" \
    --weights run/best.safetensors --detect-face "$group"
else
  echo "skipped: predict_age --detect-face (no ../shared/data/faces or no dlib)"
fi

echo "$failures failure(s)"
exit $((failures > 0))
