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
# Reuses the generated test data of the first run; the Python tests already ran there, and so did
# the browser and load tests of yolo4 serve (their timings and RSS bound are for the plain build).
YOLO4_TESTDATA="$PWD/$BUILD_DIR/testdata" ASAN_OPTIONS=detect_leaks=1 \
  ctest --test-dir "$BUILD_DIR-asan" --output-on-failure -j"$(nproc)" \
  -FS yolo4_testdata -E '^(testdata|checkpoint|python|serve_browser|serve_load)' --timeout 1800

echo "=== the concurrency tests under ThreadSanitizer ==="
scripts/tsan.sh

# Bounded: 20 s per parser after a build of the parsers alone; skipped without clang's libFuzzer.
echo "=== a short fuzz run of every parser (scripts/fuzz.sh 20) ==="
scripts/fuzz.sh --if-available "${FUZZ_SECONDS:-20}"
