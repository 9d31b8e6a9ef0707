"""Any darknet model: yolo4's raw heads against OpenCV DNN's on the same cfg, weights and input.

OpenCV's darknet importer is an independent implementation of the cfg semantics (routes with
groups, shortcuts, darknet's maxpool padding, depthwise convs, upsample). The conv before each
[yolo] layer is linear, so OpenCV's `conv_<index>` output is the raw head.

  - the trained Yolo-Fastest 1.1, 1.1-XL and 1.1 body models (../shared/data/models) on dog.jpg;
  - the official yolov4-tiny.cfg with generated weights (written here in darknet's format).

Needs YOLO4_BIN (the yolo4 binary) and YOLO4_SHARED_DATA.
"""
import os
import subprocess
import tempfile
import unittest

import cv2
import numpy as np

SHARED = os.environ.get("YOLO4_SHARED_DATA", os.path.join(os.path.dirname(__file__), "../../../shared/data"))
YOLO4 = os.environ.get("YOLO4_BIN", "")
MIN_PCC = 0.9999


def pcc(a, b):
    a = a.astype(np.float64).ravel()
    b = b.astype(np.float64).ravel()
    return float(np.corrcoef(a, b)[0, 1])


def parse_cfg(path):
    sections = []
    with open(path) as f:
        for raw in f:
            line = raw.split("#")[0].strip()
            if not line:
                continue
            if line.startswith("["):
                sections.append((line[1:-1].strip(), {}))
            elif "=" in line:
                key, value = line.split("=", 1)
                sections[-1][1][key.strip()] = value.strip()
    return sections


def conv_layouts(cfg_path):
    """(filters, in_channels // groups, size, batch_normalize) of every conv, in cfg order,
    following channels through route/maxpool/upsample/shortcut/yolo (independently of yolo4)."""
    sections = parse_cfg(cfg_path)
    channels = [int(sections[0][1].get("channels", 3))]
    out_channels = []
    convs = []
    for kind, v in sections[1:]:
        index = len(out_channels)
        c_in = out_channels[-1] if out_channels else channels[0]
        if kind == "convolutional":
            groups = int(v.get("groups", 1))
            filters = int(v["filters"])
            convs.append((filters, c_in // groups, int(v.get("size", 1)), int(v.get("batch_normalize", 0))))
            c = filters
        elif kind == "route":
            layers = [int(x) for x in v["layers"].split(",")]
            layers = [index + x if x < 0 else x for x in layers]
            c = sum(out_channels[x] for x in layers) // int(v.get("groups", 1))
        else:
            c = c_in
        out_channels.append(c)
    return convs


def write_random_weights(cfg_path, path, seed):
    """Trained-like random weights in darknet's format: He-scaled convs, BatchNorm near identity."""
    rng = np.random.default_rng(seed)
    with open(path, "wb") as f:
        np.array([0, 2, 5], np.int32).tofile(f)
        np.array([0], np.uint64).tofile(f)
        for filters, c_in, size, bn in conv_layouts(cfg_path):
            fan_in = c_in * size * size
            parts = [rng.uniform(-0.1, 0.1, filters)]  # biases / beta
            if bn:
                parts += [rng.uniform(0.5, 1.5, filters), rng.uniform(-0.1, 0.1, filters),
                          rng.uniform(0.5, 1.5, filters)]  # gamma, mean, var
            parts.append(rng.uniform(-1, 1, filters * fan_in) * np.sqrt(6.0 / fan_in))
            for p in parts:
                p.astype(np.float32).tofile(f)


def yolo_heads_opencv(cfg, weights, blob):
    net = cv2.dnn.readNetFromDarknet(cfg, weights)
    net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
    net.setInput(blob)
    yolo = [i for i, (kind, _) in enumerate(parse_cfg(cfg)[1:]) if kind == "yolo"]
    return net.forward(["conv_%d" % (i - 1) for i in yolo])


def yolo_heads_yolo4(cfg, weights, blob, size, extra=()):
    with tempfile.TemporaryDirectory() as tmp:
        np.save(os.path.join(tmp, "input.npy"), blob.astype(np.float32))
        subprocess.run([YOLO4, "run", "--cfg", cfg, "--weights", weights, "--preset", "fp32",
                        "--input", os.path.join(tmp, "input.npy"), "--dump", tmp, *extra],
                       check=True, capture_output=True, text=True)
        heads = {}
        for name in os.listdir(tmp):
            if name.startswith("head"):
                heads[int(name[4:-4])] = np.load(os.path.join(tmp, name))
        return heads


@unittest.skipUnless(YOLO4 and os.path.exists(YOLO4), "YOLO4_BIN is not set")
class DarknetModelsAgainstOpenCV(unittest.TestCase):
    def compare(self, cfg, weights, blob):
        size = blob.shape[2]
        expected = yolo_heads_opencv(cfg, weights, blob)
        actual = yolo_heads_yolo4(cfg, weights, blob, size)
        self.assertEqual(len(actual), len(expected))
        for head in expected:
            stride = size // head.shape[2]
            self.assertIn(stride, actual)
            got = actual[stride]
            self.assertEqual(got.shape, head.shape)
            value = pcc(got, head)
            err = float(np.abs(got - head).max())
            print("%s stride %d: PCC %.7f, max abs error %.2e" % (os.path.basename(cfg), stride, value, err))
            self.assertGreaterEqual(value, MIN_PCC)

    def trained_model(self, name):
        d = os.path.join(SHARED, "models")
        img = cv2.imread(os.path.join(SHARED, "images", "dog.jpg"))
        blob = cv2.dnn.blobFromImage(img, 1 / 255.0, (320, 320), swapRB=True, crop=False)
        self.compare(os.path.join(d, name + ".cfg"), os.path.join(d, name + ".weights"), blob)

    def test_yolo_fastest_xl(self):
        self.trained_model("yolo-fastest-1.1-xl")

    def test_yolo_fastest(self):
        self.trained_model("yolo-fastest-1.1")

    def test_yolo_fastest_body(self):
        self.trained_model("yolo-fastest-1.1_body")

    def test_yolov4_tiny_generated_weights(self):
        cfg = os.path.join(SHARED, "yolov4-tiny.cfg")
        with tempfile.TemporaryDirectory() as tmp:
            weights = os.path.join(tmp, "yolov4-tiny.weights")
            write_random_weights(cfg, weights, seed=11)
            rng = np.random.default_rng(5)
            blob = rng.uniform(0, 1, (1, 3, 416, 416)).astype(np.float32)
            self.compare(cfg, weights, blob)


if __name__ == "__main__":
    unittest.main()
