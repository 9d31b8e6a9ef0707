"""yolo4: YOLO object detection (YOLOv4 and any darknet cfg) on x86 CPUs.

    import yolo4
    detector = yolo4.Detector("yolo-fastest-1.1-xl.weights", cfg="yolo-fastest-1.1-xl.cfg")
    detections = detector.detect("dog.jpg")   # or a BGR uint8 array, or encoded bytes
    for d in detections:
        print(d["class_name"], d["score"], d["box"])

detect() returns a numpy structured array, one row per detection, best first, with the fields
class_id (int32), class_name (str), score (float32) and box (float32 x1, y1, x2, y2 in the
image's pixels): detections[detections["score"] > 0.5]["box"] is an (N, 4) array.
to_dicts() turns it into the records `yolo4 detect --json` writes.

COCO_CATEGORY_IDS[class_id] is COCO's category id (1-90, with gaps) of each of the 80 classes,
as COCO results files and `yolo4 eval` use them.

yolo4.dask runs the same detection over a Dask distributed cluster.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._core import COCO_CATEGORY_IDS, Detector, Error, __version__

__all__ = ["COCO_CATEGORY_IDS", "Detector", "Error", "__version__", "to_dicts"]


def to_dicts(detections: np.ndarray) -> list[dict[str, Any]]:
    """Detections as plain Python records, as `yolo4 detect --json` writes them:
    {"class_id": int, "class": str, "score": float, "box": [x1, y1, x2, y2]}."""
    return [
        {
            "class_id": int(d["class_id"]),
            "class": str(d["class_name"]),
            "score": float(d["score"]),
            "box": [float(v) for v in d["box"]],
        }
        for d in detections
    ]
