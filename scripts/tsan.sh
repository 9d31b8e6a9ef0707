#!/usr/bin/env bash
# The concurrency tests under ThreadSanitizer: the thread pool, the jobs that load a model on
# several threads (and a model packed that way), inference sessions (eager vs replayed, 1 vs 2
# threads), one packed model shared by concurrent sessions, and Detectors sharing one
# DetectionModel (whose darknet weights load on several threads). Builds into
# build-tsan; each test binary is bounded by TSAN_TIMEOUT seconds (default 900).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${TSAN_BUILD_DIR:-build-tsan}"
TIMEOUT="${TSAN_TIMEOUT:-900}"

cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DYOLO4_TSAN=ON >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)" --target yolo4_ops_tests yolo4_model_tests \
  yolo4_pipeline_tests

# halt_on_error: the first race fails the run; the report names both stacks.
# scripts/tsan.supp names the third-party reports ignored (GDAL's own locks, through OpenCV).
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$PWD/scripts/tsan.supp ${TSAN_OPTIONS:-}"
timeout "$TIMEOUT" "$BUILD_DIR/yolo4_ops_tests" --gtest_filter='ThreadPool*:RunJobs*'
timeout "$TIMEOUT" "$BUILD_DIR/yolo4_model_tests" \
  --gtest_filter='InferenceSession.*:Yolov4.SharedByConcurrentSessions:Graph.PacksItsWeightsOnSeveralThreadsAsOnOne'
# Detectors on their own threads sharing one loaded (trained) model.
timeout "$TIMEOUT" "$BUILD_DIR/yolo4_pipeline_tests" \
  --gtest_filter='Detector.SharedModelConcurrentDetectorsGiveIdenticalResults'
echo "tsan: no data races in the concurrency tests"
