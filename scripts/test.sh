#!/usr/bin/env bash
# The whole test suite: sets up and builds, runs every test through CTest, then runs the C++
# tests again under AddressSanitizer and UndefinedBehaviorSanitizer, the concurrency tests under
# ThreadSanitizer, and every parser's fuzz target for a short bounded time.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${BUILD_DIR:-build}"
scripts/setup.sh "$BUILD_DIR"
ctest --test-dir "$BUILD_DIR" --output-on-failure -j"$(nproc)"

echo "=== the C++ tests under ASan + UBSan ==="
cmake -S . -B "$BUILD_DIR-asan" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DYOLO4_SANITIZE=ON >/dev/null
cmake --build "$BUILD_DIR-asan" -j"$(nproc)"
# The GoogleTest executables, each as one process; they reuse the first run's generated test
# data (the Python, browser and load tests ran there and are not repeated).
YOLO4_TESTDATA="$PWD/$BUILD_DIR/testdata" ASAN_OPTIONS=detect_leaks=1 \
  scripts/run_test_binaries.sh "$BUILD_DIR-asan"

echo "=== the concurrency tests under ThreadSanitizer ==="
scripts/tsan.sh

# Bounded: 20 s per parser after a build of the parsers alone; skipped without clang's libFuzzer.
echo "=== a short fuzz run of every parser (scripts/fuzz.sh 20) ==="
scripts/fuzz.sh --if-available "${FUZZ_SECONDS:-20}"
