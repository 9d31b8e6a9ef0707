#!/bin/sh
# Usage: without_cpu_feature.sh FEATURE YOLO4_BIN TEST_BINARY [ARGS...]
# Runs a test executable as on this CPU without FEATURE, on top of the run's own
# YOLO4_CPU_DISABLE. Where the CPU, as the run sees it (`yolo4 info`), has no FEATURE, that would
# repeat the suite's own run: exit 77, which CTest counts as skipped.
set -eu
feature="$1" yolo4="$2"
shift 2
info=$("$yolo4" info)  # a failing yolo4 fails the test rather than skipping it
features=$(echo "$info" | sed -n 's/^features: //p' | sed 's/ *(.*//')
case " $features " in
  *" $feature "*) ;;
  *)
    echo "skipped: this run's CPU has no $feature (features: $features)"
    exit 77
    ;;
esac
YOLO4_CPU_DISABLE="${YOLO4_CPU_DISABLE:+$YOLO4_CPU_DISABLE,}$feature" exec "$@"
