#!/usr/bin/python3
"""Helper of the yolo4 detect tests: checks JSON files and prints them as lines C++ reads easily.

  detect_json.py check FILE   validates `yolo4 detect --json` output against its schema (exits 1
                              naming the first violation) and prints, per image or frame,
                                IMG <frame or -> <width> <height> <detections> <image path>
                              followed by one line per detection:
                                DET <class_id> <score> <x1> <y1> <x2> <y2>
  detect_json.py ref FILE     the "final" boxes of tests/python/postprocess_ref.py decode output,
                              as DET lines with full float precision
"""

import json
import math
import sys

DETECTION_KEYS = {"class_id", "class", "score", "box"}


def fail(message):
    sys.exit(f"detect_json.py: {message}")


def is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value):
    return (is_int(value) or isinstance(value, float)) and math.isfinite(value)


def check_detection(where, d, width, height):
    if not isinstance(d, dict) or set(d) != DETECTION_KEYS:
        fail(f"{where}: expected keys {sorted(DETECTION_KEYS)}, got {d!r}")
    if not is_int(d["class_id"]) or not 0 <= d["class_id"] < 80:
        fail(f"{where}: class_id {d['class_id']!r} is not an int in [0, 80)")
    if not isinstance(d["class"], str) or not d["class"]:
        fail(f"{where}: class {d['class']!r} is not a non-empty string")
    if not is_number(d["score"]) or not 0 < d["score"] <= 1:
        fail(f"{where}: score {d['score']!r} is not a number in (0, 1]")
    box = d["box"]
    if not isinstance(box, list) or len(box) != 4 or not all(is_number(v) for v in box):
        fail(f"{where}: box {box!r} is not 4 numbers")
    x1, y1, x2, y2 = box
    if not (0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height):
        fail(f"{where}: box {box!r} is not inside the {width}x{height} image with x1 < x2, y1 < y2")


def check_result(i, r):
    where = f"item {i}"
    if not isinstance(r, dict):
        fail(f"{where}: expected an object, got {r!r}")
    expected = {"image", "width", "height", "detections"} | ({"frame"} if "frame" in r else set())
    if set(r) != expected:
        fail(f"{where}: expected keys {sorted(expected)}, got {sorted(r)}")
    if not isinstance(r["image"], str) or not r["image"]:
        fail(f"{where}: image {r['image']!r} is not a non-empty string")
    if "frame" in r and (not is_int(r["frame"]) or r["frame"] < 0):
        fail(f"{where}: frame {r['frame']!r} is not a non-negative int")
    if not (is_int(r["width"]) and is_int(r["height"]) and r["width"] > 0 and r["height"] > 0):
        fail(f"{where}: width/height {r['width']!r}x{r['height']!r} are not positive ints")
    if not isinstance(r["detections"], list):
        fail(f"{where}: detections is not a list")
    scores = []
    for j, d in enumerate(r["detections"]):
        check_detection(f"{where} detection {j}", d, r["width"], r["height"])
        scores.append(d["score"])
    if scores != sorted(scores, reverse=True):
        fail(f"{where}: detections are not sorted by descending score")


def cmd_check(path):
    with open(path) as f:
        data = json.load(f)  # raises on anything that is not exactly one JSON document
    if not isinstance(data, list):
        fail(f"{path}: the top level is not a list")
    for i, r in enumerate(data):
        check_result(i, r)
        frame = r.get("frame", "-")
        print(f"IMG {frame} {r['width']} {r['height']} {len(r['detections'])} {r['image']}")
        for d in r["detections"]:
            print("DET {} {!r} {!r} {!r} {!r} {!r}".format(d["class_id"], d["score"], *d["box"]))


def cmd_ref(path):
    with open(path) as f:
        data = json.load(f)
    for class_id, score, x1, y1, x2, y2 in data["final"]:
        print(f"DET {class_id} {score!r} {x1!r} {y1!r} {x2!r} {y2!r}")


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("check", "ref"):
        sys.exit(__doc__)
    (cmd_check if sys.argv[1] == "check" else cmd_ref)(sys.argv[2])


if __name__ == "__main__":
    main()
