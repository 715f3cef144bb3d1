# The command-line tests' checks (sourced by tests/apps_test.sh and tests/export_onnx_test.sh): each failure is
# printed and counted in $failures; the test ends with `echo "$failures failure(s)"; exit $((failures > 0))`.
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
