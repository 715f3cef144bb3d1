# Shared by the shell tests (apps_test.sh, export_onnx_test.sh, dist_test.sh, dist_netns_test.sh): `fail MESSAGE` counts a failure;
# `expect CODE PATTERN -- COMMAND...` runs the command and checks its exit code and that its output matches PATTERN
# (grep -E); `require_mpi WITH_MPI` skips the test (exit 77) unless edat was built with MPI and mpirun is installed.
failures=0

fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
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

require_mpi() {
  if [[ $1 != ON ]] || ! command -v mpirun >/dev/null; then
    echo "skipped: edat was built without MPI or mpirun is absent (apt-get install libopenmpi-dev openmpi-bin)"
    exit 77
  fi
}
