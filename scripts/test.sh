#!/usr/bin/env bash
# The whole test suite: sets up and builds, runs every test through CTest (again as on an
# AVX2-only CPU where the machine has AVX-512; the soak tests last, alone), then runs the C++
# tests again under AddressSanitizer and UndefinedBehaviorSanitizer, the concurrency tests under
# ThreadSanitizer, and every fuzz target for a short bounded time.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${BUILD_DIR:-build}"
# Each stage's heading says when it starts: the whole suite is kept under 60 minutes.
stage() { echo "=== $1 ($((SECONDS / 60)) min $((SECONDS % 60)) s into the suite) ==="; }
stage "set up and build (scripts/setup.sh)"
scripts/setup.sh "$BUILD_DIR"
stage "the release suite"
ctest --test-dir "$BUILD_DIR" --output-on-failure -j"$(nproc)" -LE soak

# Most users' CPUs have AVX2 and no AVX-512: on an AVX-512 machine the suite runs again as there
# (best ISA, kernel tables and auto's choice all follow YOLO4_CPU_DISABLE): the GoogleTest
# executables each as one process (a third of CTest's time, which starts one per test case), then
# the other tests less those labelled isa_independent (the PyTorch reference's properties, the
# bindings, the server's browser and load tests), which that would only repeat.
if grep -qw avx512f /proc/cpuinfo; then
  stage "the release suite as on an AVX2-only CPU (YOLO4_CPU_DISABLE=avx512)"
  YOLO4_CPU_DISABLE=avx512 scripts/run_test_binaries.sh "$BUILD_DIR"
  YOLO4_CPU_DISABLE=avx512 ctest --test-dir "$BUILD_DIR" --output-on-failure -j"$(nproc)" \
    -LE 'soak|isa_independent|gtest'
fi

# Thousands of frames and requests with RSS sampled (tests/soak): in the release build only, one
# at a time, so that nothing else competes with them.
stage "the soak tests (release build)"
ctest --test-dir "$BUILD_DIR" --output-on-failure -L soak

stage "the ASan + UBSan build"
cmake -S . -B "$BUILD_DIR-asan" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DYOLO4_SANITIZE=ON >/dev/null
cmake --build "$BUILD_DIR-asan" -j"$(nproc)"
stage "the C++ tests under ASan + UBSan"
# The GoogleTest executables, each as one process; they reuse the first run's generated test
# data (the Python, browser and load tests ran there and are not repeated). The reduced presets'
# whole-model PCC on the AVX2 kernels is left to the release passes: the AVX2 kernels' memory
# use is checked here by the ops tests and, through a whole model, by Avx2KernelsModelPcc.
YOLO4_TESTDATA="$PWD/$BUILD_DIR/testdata" ASAN_OPTIONS=detect_leaks=1 \
  scripts/run_test_binaries.sh "$BUILD_DIR-asan" --gtest_filter='-ReducedPrecision/PresetPcc.*_avx2'

stage "the concurrency tests under ThreadSanitizer"
scripts/tsan.sh

# Bounded: 20 s per target after the fuzz build; skipped without clang's libFuzzer.
stage "a short fuzz run of every target (scripts/fuzz.sh 20)"
scripts/fuzz.sh --if-available "${FUZZ_SECONDS:-20}"
stage "done"
