#!/usr/bin/env bash
# The main job end to end: set up and build, then detect objects in samples/dog.jpg with the
# official YOLOv4 weights (downloaded once on first use, ~258 MB, into ~/.cache/yolo4).
#
#   scripts/demo.sh        -> out/dog.jpg (annotated) and out/detections.json
#
# Offline, the weights cannot be downloaded. The demo says so and then runs, in this order:
#   1. the small trained Yolo-Fastest 1.1-XL (COCO) from ../shared/data/models, where that
#      exists: real detections from a much smaller model than YOLOv4;
#   2. as a last resort, the project's deterministic RANDOM checkpoint (tests/python/
#      make_checkpoint.py, cached in the build directory): the pipeline runs end to end, but
#      those boxes mean nothing.
# Environment: BUILD_DIR (default build), OUT_DIR (default out).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${BUILD_DIR:-build}"
OUT_DIR="${OUT_DIR:-out}"
PYTHON=/usr/bin/python3
YOLO4="$BUILD_DIR/yolo4"
EXIT_NO_WEIGHTS=3  # yolo4 detect's exit status when the weights cannot be downloaded

scripts/setup.sh "$BUILD_DIR"

detect() {  # detect MODEL FLAGS...
  "$YOLO4" detect "$@" samples/dog.jpg --out "$OUT_DIR" --json "$OUT_DIR/detections.json"
}

status=0
detect --weights auto || status=$?
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
shared="${YOLO4_SHARED_DATA:-$(cd .. && pwd)/shared/data}"
fastest="$shared/models/yolo-fastest-1.1-xl"
if [[ -s "$fastest.weights" && -s "$fastest.cfg" ]]; then
  cat >&2 <<EOF

demo: the official YOLOv4 weights could not be downloaded (no network?), see the message above.
demo: using the trained Yolo-Fastest 1.1-XL found in $shared/models instead.
demo: NOTE: this is a small model (3.7 MB; COCO mAP@0.5 34% at 320), NOT YOLOv4 (about 71%
demo: at 416): real detections, but fewer and less precise than YOLOv4's.
EOF
  detect --cfg "$fastest.cfg" --weights "$fastest.weights"
  echo
  echo "demo: done (Yolo-Fastest 1.1-XL) - annotated image $OUT_DIR/dog.jpg, detections $OUT_DIR/detections.json"
  exit 0
fi

cat >&2 <<EOF

demo: the official YOLOv4 weights could not be downloaded (no network?), see the message above,
demo: and no trained Yolo-Fastest model was found in $shared/models.
demo: falling back to the project's deterministic RANDOM checkpoint, so that the pipeline
demo: (decode, network, boxes, NMS, drawing, JSON) still runs end to end.
EOF

checkpoint="$BUILD_DIR/demo/yolov4_random.pth"
if [[ ! -s "$checkpoint" ]]; then
  mkdir -p "$(dirname "$checkpoint")"
  if [[ -s "$BUILD_DIR/testdata/yolov4_random.pth" ]]; then  # the tests made the same file
    cp "$BUILD_DIR/testdata/yolov4_random.pth" "$checkpoint.tmp"
  else
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

detect --weights "$checkpoint"
cat >&2 <<EOF

demo: ##########################################################################
demo: ##  WARNING: RANDOM WEIGHTS. The boxes, classes and scores in
demo: ##  $OUT_DIR/dog.jpg and $OUT_DIR/detections.json are MEANINGLESS; they only show
demo: ##  that the pipeline runs end to end. For real detections get yolov4.weights
demo: ##  (see the message above) and run scripts/demo.sh again.
demo: ##########################################################################
EOF
