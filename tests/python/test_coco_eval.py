"""`yolo4 eval` against the independent numpy implementation in coco_eval_ref.py.

Hand-computed cases first check the reference itself (so that both cannot be wrong the same
way); then random datasets and results (crowds, score ties, duplicates, empty images,
categories with results but no ground truth, boxes on an integer grid so that IoUs hit the
thresholds exactly, more than 100 results per image) are scored by both, and all 12 COCO
numbers, every per-category AP and darknet's mAP@0.5 must agree to 1e-9.

YOLO4_BIN names the yolo4 executable (CTest sets it).
"""

import glob
import json
import os
import subprocess
import tempfile
import unittest

import numpy as np

import coco_eval_ref as ref

YOLO4_BIN = os.environ.get("YOLO4_BIN", os.path.join(os.path.dirname(__file__), "../../build/yolo4"))
RANDOM_CASES = int(os.environ.get("YOLO4_EVAL_CASES", "60"))
TOLERANCE = 1e-9


def run_yolo4(dataset, results, metric="coco", limit=0):
    with tempfile.TemporaryDirectory(prefix="yolo4_eval_") as tmp:
        paths = {name: os.path.join(tmp, name + ".json") for name in ("gt", "res", "stats")}
        with open(paths["gt"], "w") as f:
            json.dump(dataset, f)
        with open(paths["res"], "w") as f:
            json.dump(results, f)
        cmd = [YOLO4_BIN, "eval", "--annotations", paths["gt"], "--results", paths["res"],
               "--metric", metric, "--stats", paths["stats"], "--quiet"]
        if limit:
            cmd += ["--limit", str(limit)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} failed: {proc.stderr}")
        with open(paths["stats"]) as f:
            return json.load(f), proc.stdout


def annotation(ann_id, image_id, category_id, box, crowd=0, area=None):
    return {"id": ann_id, "image_id": image_id, "category_id": category_id, "bbox": box,
            "area": box[2] * box[3] if area is None else area, "iscrowd": crowd}


def random_case(rng):
    """A random dataset and results list; sizes kept small so that many cases run quickly."""
    n_images = int(rng.integers(1, 16))
    image_ids = rng.choice(np.arange(1, 1000), size=n_images, replace=False).tolist()
    n_categories = int(rng.integers(1, 5))
    category_ids = sorted(rng.choice(np.arange(1, 91), size=n_categories, replace=False).tolist())
    grid = rng.random() < 0.5  # integer boxes: exact IoU ties and threshold hits

    def random_box():
        scale = rng.choice([12.0, 40.0, 130.0])  # small, medium and large objects
        w, h = (rng.uniform(0.3, 1.5, size=2) * scale)
        x, y = rng.uniform(0, 300, size=2)
        box = [x, y, w, h]
        return [float(round(v)) if grid else float(v) for v in box]

    def jitter(box, amount):
        out = [box[0] + rng.normal(0, amount * box[2]), box[1] + rng.normal(0, amount * box[3]),
               box[2] * rng.uniform(1 - amount, 1 + amount), box[3] * rng.uniform(1 - amount, 1 + amount)]
        return [float(round(v)) if grid else float(v) for v in out]

    score_pool = rng.uniform(0, 1, size=4)  # repeated scores: ties across and within images

    def score():
        return float(rng.choice(score_pool)) if rng.random() < 0.4 else float(rng.uniform(0, 1))

    annotations, results = [], []
    truth_categories = category_ids[:-1] if n_categories > 1 and rng.random() < 0.5 else category_ids
    for image_id in image_ids:
        if rng.random() < 0.2:
            continue  # an image without annotations
        for _ in range(int(rng.integers(0, 7))):
            box = random_box()
            crowd = int(rng.random() < 0.15)
            # the segmentation area differs from the box area; sometimes exactly on a range bound
            area = float(rng.choice([box[2] * box[3] * rng.uniform(0.4, 1.0), 32.0**2, 96.0**2]))
            annotations.append(annotation(len(annotations) + 1, image_id,
                                          int(rng.choice(truth_categories)), box, crowd, area))
    for t in annotations:
        for _ in range(int(rng.choice([0, 1, 1, 2, 3]))):  # misses, hits and duplicates
            results.append({"image_id": t["image_id"], "category_id": t["category_id"],
                            "bbox": jitter(t["bbox"], float(rng.choice([0.0, 0.05, 0.2]))),
                            "score": score()})
    for _ in range(int(rng.integers(0, 4 * n_images + 1))):  # false positives, any category
        results.append({"image_id": int(rng.choice(image_ids)), "category_id": int(rng.choice(category_ids)),
                        "bbox": random_box(), "score": score()})
    if rng.random() < 0.1:  # more than 100 results on one image and category
        image_id, category_id = int(rng.choice(image_ids)), int(rng.choice(category_ids))
        for _ in range(120):
            results.append({"image_id": image_id, "category_id": category_id, "bbox": random_box(),
                            "score": score()})
    order = rng.permutation(len(results))
    results = [results[i] for i in order]
    rng.shuffle(annotations)
    dataset = {
        "images": [{"id": i, "file_name": f"{i}.jpg", "width": 640, "height": 480} for i in image_ids],
        "categories": [{"id": c, "name": f"c{c}"} for c in category_ids],
        "annotations": annotations,
    }
    return dataset, results


class ReferenceByHand(unittest.TestCase):
    """The reference on cases small enough to work out on paper."""

    def test_one_hit_one_miss(self):
        # Two images, one ground truth each; one exact hit (score .9), one result far off (.8).
        # Ranked: TP (recall 1/2, precision 1), FP (recall 1/2, precision 1/2). Recall points
        # 0..0.50 (51 of 101) get precision 1, the rest 0: AP = 51/101 at every IoU threshold.
        dataset = {"images": [{"id": 1}, {"id": 2}], "categories": [{"id": 7}],
                   "annotations": [annotation(1, 1, 7, [0, 0, 100, 100]),
                                   annotation(2, 2, 7, [0, 0, 10, 10])]}
        results = [{"image_id": 1, "category_id": 7, "bbox": [0, 0, 100, 100], "score": 0.9},
                   {"image_id": 2, "category_id": 7, "bbox": [50, 50, 10, 10], "score": 0.8}]
        stats, per_category = ref.coco_eval(dataset, results)
        self.assertAlmostEqual(stats[0], 51 / 101, places=12)
        self.assertAlmostEqual(stats[1], 51 / 101, places=12)
        self.assertAlmostEqual(stats[3], 0.0)  # the small object was missed
        self.assertEqual(stats[4], -1.0)       # no medium ground truth
        self.assertAlmostEqual(stats[5], 1.0, places=12)
        self.assertAlmostEqual(stats[8], 0.5)
        self.assertAlmostEqual(per_category[0], 51 / 101, places=12)

    def test_crowd_absorbs_results(self):
        # A crowd region (ignored) and a regular box. Three results inside the crowd are
        # ignored (IoU = intersection / result area = 1), the hit on the regular box is the
        # only counted result: AP = 1, AR = 1.
        dataset = {"images": [{"id": 1}], "categories": [{"id": 1}],
                   "annotations": [annotation(1, 1, 1, [0, 0, 200, 200], crowd=1),
                                   annotation(2, 1, 1, [300, 300, 50, 50])]}
        results = [{"image_id": 1, "category_id": 1, "bbox": [10 * i, 10, 20, 20], "score": 0.9}
                   for i in range(3)]
        results.append({"image_id": 1, "category_id": 1, "bbox": [300, 300, 50, 50], "score": 0.5})
        stats, _ = ref.coco_eval(dataset, results)
        self.assertAlmostEqual(stats[0], 1.0, places=12)
        self.assertAlmostEqual(stats[8], 1.0)

    def test_darknet_map(self):
        # One class, 2 ground truths; results ranked TP, FP, TP: precision 1, 1/2, 2/3 at
        # recall 1/2, 1/2, 1. Area under the envelope: 1/2 * 1 + 1/2 * 2/3 = 5/6. A second
        # class without ground truth counts as AP 0: mAP = 5/12.
        dataset = {"images": [{"id": 1}], "categories": [{"id": 1}, {"id": 2}],
                   "annotations": [annotation(1, 1, 1, [0, 0, 10, 10]),
                                   annotation(2, 1, 1, [100, 100, 10, 10])]}
        results = [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "score": 0.9},
                   {"image_id": 1, "category_id": 1, "bbox": [50, 50, 10, 10], "score": 0.8},
                   {"image_id": 1, "category_id": 1, "bbox": [100, 100, 10, 10], "score": 0.7}]
        mean_ap, aps = ref.darknet_map(dataset, results)
        self.assertAlmostEqual(aps[0], 5 / 6, places=12)
        self.assertAlmostEqual(mean_ap, 5 / 12, places=12)


class AgainstReference(unittest.TestCase):
    def compare(self, dataset, results, limit=0, what=""):
        image_ids = [im["id"] for im in dataset["images"]][:limit] if limit else None
        stats, per_category = ref.coco_eval(dataset, results, image_ids)
        got, _ = run_yolo4(dataset, results, limit=limit)
        for name, expected in zip(ref.STAT_NAMES, stats):
            self.assertAlmostEqual(got["stats"][name], expected, delta=TOLERANCE, msg=f"{what} {name}")
        for category, expected in zip(got["categories"], per_category):
            self.assertAlmostEqual(category["ap"], expected, delta=TOLERANCE, msg=f"{what} AP of {category}")
        mean_ap, aps = ref.darknet_map(dataset, results, image_ids)
        got, _ = run_yolo4(dataset, results, metric="darknet", limit=limit)
        self.assertAlmostEqual(got["map50"], mean_ap, delta=TOLERANCE, msg=f"{what} darknet mAP")
        for category, expected in zip(got["categories"], aps):
            self.assertAlmostEqual(category["ap"], expected, delta=TOLERANCE, msg=f"{what} darknet {category}")
        return stats

    def test_random_cases(self):
        rng = np.random.default_rng(20261201)
        valid = 0
        for case in range(RANDOM_CASES):
            dataset, results = random_case(rng)
            limit = int(rng.integers(1, len(dataset["images"]) + 1)) if rng.random() < 0.15 else 0
            with self.subTest(case=case):
                stats = self.compare(dataset, results, limit, what=f"case {case}:")
                valid += stats[0] > 0
        # The generator must produce informative cases, not only -1s and 0s.
        self.assertGreater(valid, RANDOM_CASES // 2)

    def test_empty_results(self):
        rng = np.random.default_rng(7)
        dataset, _ = random_case(rng)
        dataset["annotations"].append(annotation(10**6, dataset["images"][0]["id"],
                                                 dataset["categories"][0]["id"], [0, 0, 50, 50]))
        stats = self.compare(dataset, [])
        self.assertEqual(stats[0], 0.0)

    def test_summary_prints_pycocotools_lines(self):
        rng = np.random.default_rng(3)
        dataset, results = random_case(rng)
        stats, _ = ref.coco_eval(dataset, results)
        _, stdout = run_yolo4(dataset, results)
        lines = stdout.splitlines()
        self.assertEqual(len(lines), 12)
        self.assertTrue(lines[0].startswith(
            " Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = "), lines[0])
        self.assertTrue(lines[10].startswith(
            " Average Recall     (AR) @[ IoU=0.50:0.95 | area=medium | maxDets=100 ] = "), lines[10])
        for line, value in zip(lines, stats):
            self.assertEqual(line.rsplit("= ", 1)[1], f"{value:0.3f}")


# COCO's category ids of the 80 classes in coco.names order (1-90 with gaps), typed from the
# instances files' category list, independently of src/yolo4/eval/coco_categories.cpp.
COCO_IDS = [i for i in range(1, 91) if i not in (12, 26, 29, 30, 45, 66, 68, 69, 71, 83)]
SHARED = os.environ.get("YOLO4_SHARED_DATA", os.path.join(os.path.dirname(__file__), "../../../shared/data"))
FASTEST = os.path.join(SHARED, "models", "yolo-fastest-1.1-xl")


def opencv_annotations(min_score=0.5):
    """A COCO annotation file for the sample images: the boxes OpenCV DNN finds with the
    trained Yolo-Fastest-XL (320x320, stretched; per-class NMS 0.4)."""
    import cv2
    net = cv2.dnn.readNetFromDarknet(FASTEST + ".cfg", FASTEST + ".weights")
    dataset = {"images": [], "annotations": [],
               "categories": [{"id": i, "name": f"c{i}"} for i in COCO_IDS]}
    for n, path in enumerate(sorted(glob.glob(os.path.join(SHARED, "images", "*.jpg")))):
        image = cv2.imread(path)
        h, w = image.shape[:2]
        dataset["images"].append({"id": 100 + n, "file_name": os.path.basename(path), "width": w, "height": h})
        net.setInput(cv2.dnn.blobFromImage(image, 1 / 255.0, (320, 320), swapRB=True, crop=False))
        rows = np.concatenate(net.forward(net.getUnconnectedOutLayersNames()))
        for c in range(80):
            rows_c = rows[(np.argmax(rows[:, 5:], axis=1) == c) & (rows[:, 5 + c] > min_score)]
            boxes = [[(r[0] - r[2] / 2) * w, (r[1] - r[3] / 2) * h, r[2] * w, r[3] * h] for r in rows_c]
            scores = [float(r[5 + c]) for r in rows_c]
            for i in np.array(cv2.dnn.NMSBoxes(boxes, scores, min_score, 0.4) if boxes else []).reshape(-1):
                box = [float(v) for v in boxes[i]]
                dataset["annotations"].append(annotation(len(dataset["annotations"]) + 1, 100 + n,
                                                         COCO_IDS[c], box))
    return dataset


@unittest.skipUnless(os.path.exists(FASTEST + ".weights"), "needs ../shared/data/models")
class ModelMode(unittest.TestCase):
    """yolo4 eval --images end to end: Yolo-Fastest-XL on the sample images, scored against the
    boxes OpenCV DNN finds with the same model (dog.jpg: dog, bicycle, car; ...). The same
    network in two engines must agree: AP near 1 in float32."""

    def run_eval(self, tmp, dataset, preset):
        gt, res, stats = (os.path.join(tmp, f"{preset}-{f}") for f in ("gt.json", "res.json", "stats.json"))
        with open(gt, "w") as f:
            json.dump(dataset, f)
        cmd = [YOLO4_BIN, "eval", "--annotations", gt, "--images", os.path.join(SHARED, "images"),
               "--cfg", FASTEST + ".cfg", "--weights", FASTEST + ".weights", "--preset", preset,
               "--results", res, "--stats", stats, "--quiet"]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        with open(stats) as f:
            got = json.load(f)["stats"]
        with open(res) as f:
            return got, json.load(f)

    def test_detects_maps_and_scores(self):
        dataset = opencv_annotations()
        self.assertGreaterEqual(len(dataset["annotations"]), 20)
        with tempfile.TemporaryDirectory(prefix="yolo4_eval_") as tmp:
            # float32: the same boxes as OpenCV's float32 to well within the 0.95 IoU threshold.
            got, results = self.run_eval(tmp, dataset, "fp32")
            self.assertGreater(got["AP"], 0.99, got)
            self.assertGreater(got["AR100"], 0.99, got)
            sizes = {im["id"]: (im["width"], im["height"]) for im in dataset["images"]}
            per_image = {}
            for r in results:
                w, h = sizes[r["image_id"]]
                x, y, bw, bh = r["bbox"]
                self.assertIn(r["category_id"], COCO_IDS)
                self.assertTrue(0 <= x and 0 <= y and x + bw <= w + 0.01 and y + bh <= h + 0.01, r)
                self.assertTrue(0.001 < r["score"] <= 1, r)
                per_image[r["image_id"]] = per_image.get(r["image_id"], 0) + 1
            self.assertEqual(set(per_image), set(sizes))
            self.assertLessEqual(max(per_image.values()), 100)
            self.assertGreater(max(per_image.values()), 20)  # threshold 0.001, not detect's 0.3
            # The written file scores to exactly the same numbers, and as the reference does.
            again, _ = run_yolo4(dataset, results)
            self.assertEqual(again["stats"], got)
            expected, _ = ref.coco_eval(dataset, results)
            for name, value in zip(ref.STAT_NAMES, expected):
                self.assertAlmostEqual(got[name], value, delta=TOLERANCE, msg=name)
            # The default preset (bfloat16 activations, bfloat8_b weights) moves boxes a little.
            got, _ = self.run_eval(tmp, dataset, "fast")
            self.assertGreater(got["AP50"], 0.95, got)
            self.assertGreater(got["AP"], 0.8, got)


if __name__ == "__main__":
    unittest.main()
