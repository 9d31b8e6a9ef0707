#!/usr/bin/env bash
# The main job end to end: set up and build, then detect objects in samples/dog.jpg with the
# official YOLOv4 weights (downloaded once on first use, ~258 MB, into ~/.cache/yolo4).
#
#   scripts/demo.sh        -> out/dog.jpg (annotated) and out/detections.json
#
# Offline, the weights cannot be downloaded: the demo says so and then runs the same pipeline
# with the project's deterministic RANDOM checkpoint (tests/python/make_checkpoint.py, cached in
# the build directory), so everything still runs end to end - but those boxes mean nothing.
# Environment: BUILD_DIR (default build), OUT_DIR (default out).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${BUILD_DIR:-build}"
OUT_DIR="${OUT_DIR:-out}"
PYTHON=/usr/bin/python3
YOLO4="$BUILD_DIR/yolo4"
EXIT_NO_WEIGHTS=3  # yolo4 detect's exit status when the weights cannot be downloaded

scripts/setup.sh "$BUILD_DIR"

detect() {  # detect WEIGHTS
  "$YOLO4" detect --weights "$1" samples/dog.jpg --out "$OUT_DIR" --json "$OUT_DIR/detections.json"
}

status=0
detect auto || status=$?
if ((status == 0)); then
  echo
  echo "demo: done - annotated image $OUT_DIR/dog.jpg, detections $OUT_DIR/detections.json"
  exit 0
fi
if ((status != EXIT_NO_WEIGHTS)); then
  echo "demo: yolo4 detect failed (exit status $status), see the message above" >&2
  exit "$status"
fi

# Offline: the official weights could not be downloaded.
cat >&2 <<EOF

demo: the official YOLOv4 weights could not be downloaded (no network?), see the message above.
demo: falling back to the project's deterministic RANDOM checkpoint, so that the pipeline
demo: (decode, network, boxes, NMS, drawing, JSON) still runs end to end.
EOF

checkpoint="$BUILD_DIR/demo/yolov4_random.pth"
if [[ ! -s "$checkpoint" ]]; then
  mkdir -p "$(dirname "$checkpoint")"
  if [[ -s "$BUILD_DIR/testdata/yolov4_random.pth" ]]; then  # the tests made the same file
    cp "$BUILD_DIR/testdata/yolov4_random.pth" "$checkpoint.tmp"
  else
    shared="${YOLO4_SHARED_DATA:-$(cd .. && pwd)/shared/data}"
    if [[ ! -f "$shared/yolov4.cfg" || ! -d "$shared/images" ]]; then
      echo "demo: cannot make the random checkpoint either: it is calibrated on the sample" \
           "images and yolov4.cfg, expected in $shared (set YOLO4_SHARED_DATA)." >&2
      echo "demo: to run the real demo, place yolov4.weights by hand as described above." >&2
      exit "$EXIT_NO_WEIGHTS"
    fi
    echo "demo: generating $checkpoint with tests/python/make_checkpoint.py (a few minutes, once)" >&2
    "$PYTHON" tests/python/make_checkpoint.py --shared-data "$shared" --pth "$checkpoint.tmp" \
      --threads "$(nproc)"
  fi
  mv "$checkpoint.tmp" "$checkpoint"
fi

detect "$checkpoint"
cat >&2 <<EOF

demo: ##########################################################################
demo: ##  WARNING: RANDOM WEIGHTS. The boxes, classes and scores in
demo: ##  $OUT_DIR/dog.jpg and $OUT_DIR/detections.json are MEANINGLESS; they only show
demo: ##  that the pipeline runs end to end. For real detections get yolov4.weights
demo: ##  (see the message above) and run scripts/demo.sh again.
demo: ##########################################################################
EOF
