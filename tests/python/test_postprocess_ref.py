#!/usr/bin/python3
"""Checks of the numpy post-processing reference itself, on cases worked out by hand.

Run: /usr/bin/python3 -m unittest discover -s tests/python -p 'test_postprocess*.py'
"""

import json
import math
import os
import subprocess
import sys
import tempfile
import unittest

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import postprocess_ref as ref  # noqa: E402

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "postprocess_ref.py")


def logit(p):
    return math.log(p / (1 - p))


def one_anchor_head(grid, gx, gy, anchor, box, cls, cls_logit):
    """(255, grid, grid) head, silent (-20) except one anchor."""
    head = np.full((255, grid, grid), -20.0, dtype=np.float32)
    for f, v in enumerate(box):
        head[85 * anchor + f, gy, gx] = v
    head[85 * anchor + 5 + cls, gy, gx] = cls_logit
    return head


class GeometryTest(unittest.TestCase):
    def test_letterbox_follows_darknet_integer_division(self):
        self.assertEqual(ref.letterbox_content(768, 576, 320, 320), (320, 240))
        self.assertEqual(ref.letterbox_content(500, 900, 416, 416), (231, 416))

    def test_transform(self):
        sx, sy, ox, oy = ref.make_transform(768, 576, 320, 320, "letterbox")
        self.assertAlmostEqual(float(sx), 320 / 768, places=6)
        self.assertEqual((float(ox), float(oy)), (0.0, 40.0))
        sx, sy, ox, oy = ref.make_transform(640, 480, 320, 320, "plain")
        self.assertEqual((float(sx), float(ox), float(oy)), (0.5, 0.0, 0.0))


class DecodeTest(unittest.TestCase):
    def decode(self, head, image, mode="plain", multi=False, scale_xy=1.0, conf=0.3):
        tf = ref.make_transform(image[0], image[1], 320, 320, mode)
        return ref.decode_head(head, ref.DEFAULT_ANCHORS[12:18], scale_xy, 320, 320, image[0],
                               image[1], tf, conf, multi, 80)

    def test_one_box_in_image_pixels(self):
        head = one_anchor_head(10, 3, 2, 1, [0, 0, 0, 0, logit(0.9)], 16, logit(0.8))
        rows = self.decode(head, (640, 480))
        self.assertEqual(len(rows), 1)
        cls, score, x1, y1, x2, y2 = rows[0]
        self.assertEqual(cls, 16)
        self.assertAlmostEqual(score, 0.72, places=5)
        self.assertAlmostEqual(x1, 224 - 192, places=3)
        self.assertAlmostEqual(x2, 224 + 192, places=3)
        self.assertAlmostEqual(y1, 0.0, places=3)
        self.assertAlmostEqual(y2, 120 + 243 * 0.75, places=3)

    def test_letterbox_is_undone(self):
        head = one_anchor_head(10, 5, 5, 0, [0, 0, 0, 0, logit(0.9)], 3, logit(0.9))
        _, _, x1, y1, x2, y2 = self.decode(head, (640, 320), mode="letterbox")[0]
        self.assertAlmostEqual(x1, 352 - 142, places=3)
        self.assertAlmostEqual(y1, 192 - 110, places=3)
        self.assertAlmostEqual(x2, 352 + 142, places=3)
        self.assertAlmostEqual(y2, 192 + 110, places=3)

    def test_scale_xy(self):
        head = one_anchor_head(10, 5, 0, 0, [30, -30, 0, 0, logit(0.9)], 0, logit(0.9))
        _, _, x1, y1, x2, y2 = self.decode(head, (320, 320), scale_xy=1.2)[0]
        self.assertAlmostEqual((x1 + x2) / 2, 6.1 * 32, places=3)
        self.assertAlmostEqual(y1, 0.0, places=3)
        self.assertAlmostEqual(y2, -3.2 + 55, places=3)

    def test_single_and_multi_label(self):
        head = one_anchor_head(10, 1, 1, 2, [0, 0, 0, 0, logit(0.95)], 7, logit(0.9))
        head[85 * 2 + 5 + 9, 1, 1] = 0.0           # 0.95 * 0.5 > 0.3
        head[85 * 2 + 5 + 11, 1, 1] = logit(0.3)   # 0.95 * 0.3 < 0.3
        self.assertEqual([r[0] for r in self.decode(head, (320, 320))], [7])
        multi = self.decode(head, (320, 320), multi=True)
        self.assertEqual([r[0] for r in multi], [7, 9])
        self.assertAlmostEqual(multi[1][1], 0.475, places=5)


class NmsTest(unittest.TestCase):
    def test_iou_and_diou(self):
        a = np.array([0, 0, 10, 10], dtype=np.float32)
        b = np.array([[5, 0, 15, 10], [10, 0, 20, 10], [0, 0, 10, 10]], dtype=np.float32)
        np.testing.assert_allclose(ref.iou(a, b), [50 / 150, 0, 1], rtol=1e-6)
        expected = 50 / 150 - (25 / 325) ** 0.6
        self.assertAlmostEqual(float(ref.diou(a, b[:1], 0.6)[0]), expected, places=6)

    def test_greedy_per_class(self):
        rows = [[0, 0.6, 0, 0, 10, 10], [0, 0.9, 1, 0, 11, 10], [1, 0.5, 1, 0, 11, 10],
                [0, 0.7, 50, 50, 60, 60]]
        kept = ref.nms(rows, "iou", 0.4, 0.6, 300)
        self.assertEqual([r[1] for r in kept], [0.9, 0.7, 0.5])

    def test_diou_keeps_distant_centres(self):
        rows = [[0, 0.9, 0, 0, 20, 10], [0, 0.8, 8, 0, 28, 10]]
        self.assertEqual(len(ref.nms(rows, "iou", 0.4, 0.6, 300)), 1)
        self.assertEqual(len(ref.nms(rows, "diou", 0.4, 0.6, 300)), 2)

    def test_ties_are_stable_and_max_det_caps(self):
        rows = [[c, 0.5, 0, 0, 10, 10] for c in range(10)] + [[3, 0.8, 100, 100, 110, 110]]
        kept = ref.nms(rows, "iou", 0.4, 0.6, 4)
        self.assertEqual([(r[0], r[1]) for r in kept], [(3, 0.8), (0, 0.5), (1, 0.5), (2, 0.5)])


class CliTest(unittest.TestCase):
    def test_decode_command_writes_json(self):
        rng = np.random.default_rng(0)
        with tempfile.TemporaryDirectory() as tmp:
            heads = []
            for stride in (8, 16, 32):
                grid = 320 // stride
                head = rng.normal(-3, 2, size=(1, 255, grid, grid)).astype(np.float32)
                heads.append(os.path.join(tmp, f"head{stride}.npy"))
                np.save(heads[-1], head)
            out = os.path.join(tmp, "boxes.json")
            subprocess.run([sys.executable, SCRIPT, "decode", "--heads", *heads, "--net", "320",
                            "320", "--image", "640", "480", "--mode", "letterbox", "--labels",
                            "multi", "--nms", "diou", "--out", out], check=True)
            with open(out) as f:
                result = json.load(f)
            self.assertGreater(len(result["decoded"]), len(result["final"]))
            scores = [r[1] for r in result["final"]]
            self.assertEqual(scores, sorted(scores, reverse=True))
            for _, _, x1, y1, x2, y2 in result["final"]:
                self.assertTrue(0 <= x1 < x2 <= 640 and 0 <= y1 < y2 <= 480)


if __name__ == "__main__":
    unittest.main()
