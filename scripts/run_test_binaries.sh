#!/usr/bin/env bash
# Runs every GoogleTest executable of a build directory, each as one process (CTest starts one
# process per test case, which under the sanitizers costs more than many of the tests), N at a
# time. Prints one line per executable and the failures' output; exits 1 if any failed.
# Usage: scripts/run_test_binaries.sh BUILD_DIR [EXTRA GTEST FLAGS...]
set -euo pipefail
BUILD_DIR="$1"
shift
JOBS="${JOBS:-$(nproc)}"
TIMEOUT="${TEST_BINARY_TIMEOUT:-2400}"
LOGS="$BUILD_DIR/test-logs"
mkdir -p "$LOGS"

run_one() {  # run_one BINARY FLAGS...
  local binary="$1" name start status=0
  shift
  name="$(basename "$binary")"
  start=$SECONDS
  timeout "$TIMEOUT" "$binary" --gtest_brief=1 "$@" >"$LOGS/$name.log" 2>&1 || status=$?
  if ((status == 0)); then
    echo "passed  $name ($((SECONDS - start)) s, $(grep -o '[0-9]* tests\? from' "$LOGS/$name.log" | tail -1 | cut -d' ' -f1) tests)"
  else
    echo "FAILED  $name (exit $status, $((SECONDS - start)) s); its output:"
    cat "$LOGS/$name.log"
    return 1
  fi
}
export -f run_one
export LOGS TIMEOUT

ls "$BUILD_DIR"/yolo4_*_tests | xargs -P "$JOBS" -I{} bash -c 'run_one "$@"' _ {} "$@"
