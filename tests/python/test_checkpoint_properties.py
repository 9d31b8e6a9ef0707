#!/usr/bin/python3
"""Properties of the generated random checkpoint and test data (run by CTest after `testdata`).

Environment: YOLO4_TESTDATA (output of make_testdata.py; default ../../build/testdata from here),
YOLO4_SHARED_DATA (yolov4.cfg, images/; default ../../../shared/data from here).

    /usr/bin/python3 -m unittest -v test_checkpoint_properties
"""

import os
import struct
import sys
import unittest

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_checkpoint as mc  # noqa: E402
import yolov4_ref as ref  # noqa: E402

torch.set_num_threads(int(os.environ.get("YOLO4_TORCH_THREADS", "2")))

TESTDATA = os.environ.get("YOLO4_TESTDATA") or os.path.normpath(os.path.join(HERE, "..", "..", "build", "testdata"))
SHARED = mc.default_shared_data()
CFG = os.path.join(SHARED, "yolov4.cfg")
BF16_MIN_PCC = 0.999
OPENCV_MIN_PCC = 0.9999


def td(*parts):
    path = os.path.join(TESTDATA, *parts)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} missing: run make_testdata.py --out {TESTDATA} (CTest test 'testdata')")
    return path


def shared_cfg():
    if not os.path.isfile(CFG):
        raise FileNotFoundError(f"{CFG} missing (set YOLO4_SHARED_DATA)")
    return CFG


def load(*parts):
    return np.load(td(*parts))


def image_heads(name):
    return [load("s320", "images", name, f"head{s}.npy") for s in ref.STRIDES]


_MODEL = None


def model():
    global _MODEL
    if _MODEL is None:
        _MODEL = ref.load_model(td("yolov4_random.pth"))
    return _MODEL


class CheckpointFiles(unittest.TestCase):
    """The .pth variants and the darknet file hold the same, correctly named parameters."""

    def test_state_dict_keys(self):
        sd = torch.load(td("yolov4_random.pth"), map_location="cpu")
        expected = ref.Yolov4().state_dict()
        self.assertEqual(list(sd.keys()), list(expected.keys()))
        self.assertEqual(len(sd), 648)
        for key, shape in [("down1.conv1.conv.0.weight", (32, 3, 3, 3)),
                           ("down1.conv1.conv.1.running_var", (32,)),
                           ("down2.resblock.module_list.1.1.conv.0.weight", (64, 64, 3, 3)),
                           ("down5.resblock.module_list.3.0.conv.1.bias", (512,)),
                           ("neek.conv4.conv.0.weight", (512, 2048, 1, 1)),
                           ("neek.conv20.conv.1.weight", (128,)),
                           ("head.conv2.conv.0.bias", (255,)),
                           ("head.conv10.conv.0.weight", (255, 512, 1, 1)),
                           ("head.conv18.conv.0.bias", (255,))]:
            self.assertEqual(tuple(sd[key].shape), shape, key)
        for key in ("head.conv2", "head.conv10", "head.conv18"):
            self.assertNotIn(f"{key}.conv.1.weight", sd)
        self.assertNotIn("head.conv1.conv.0.bias", sd)
        for k, v in sd.items():
            if k.endswith("num_batches_tracked"):
                self.assertEqual(v.dtype, torch.int64, k)
            else:
                self.assertEqual(v.dtype, torch.float32, k)
                self.assertTrue(torch.isfinite(v).all(), k)
            if k.endswith("running_var"):
                self.assertGreater(float(v.min()), 0.0, k)

    def test_half_and_bf16_variants(self):
        sd = torch.load(td("yolov4_random.pth"), map_location="cpu")
        for name, dtype in [("yolov4_random_f16.pth", torch.float16), ("yolov4_random_bf16.pth", torch.bfloat16)]:
            low = torch.load(td(name), map_location="cpu")
            self.assertEqual(list(low.keys()), list(sd.keys()), name)
            for k, v in sd.items():
                if v.is_floating_point():
                    self.assertEqual(low[k].dtype, dtype, (name, k))
                    self.assertTrue(torch.equal(low[k], v.to(dtype)), (name, k))
                else:
                    self.assertTrue(torch.equal(low[k], v), (name, k))

    def test_darknet_file_matches_state_dict(self):
        path = td("yolov4_random.weights")
        sd = torch.load(td("yolov4_random.pth"), map_location="cpu")
        with open(path, "rb") as f:
            self.assertEqual(struct.unpack("<iiiQ", f.read(20)), (0, 2, 0, 0))
        n_params = sum(v.numel() for k, v in sd.items() if not k.endswith("num_batches_tracked"))
        self.assertEqual(os.path.getsize(path), 20 + 4 * n_params)
        header, convs = mc.read_darknet_weights(path)
        self.assertEqual(header, (0, 2, 0, 0))
        self.assertEqual(len(convs), 110)
        for _, _, key, _, _, _, _, bn, _ in mc.DARKNET_CONVS:
            e = convs[key]
            np.testing.assert_array_equal(e["weight"], sd[f"{key}.conv.0.weight"].numpy())
            if bn:
                np.testing.assert_array_equal(e["bias"], sd[f"{key}.conv.1.bias"].numpy())
                np.testing.assert_array_equal(e["scale"], sd[f"{key}.conv.1.weight"].numpy())
                np.testing.assert_array_equal(e["mean"], sd[f"{key}.conv.1.running_mean"].numpy())
                np.testing.assert_array_equal(e["var"], sd[f"{key}.conv.1.running_var"].numpy())
            else:
                np.testing.assert_array_equal(e["bias"], sd[f"{key}.conv.0.bias"].numpy())

    def test_cfg_table(self):
        mc.check_mapping(shared_cfg(), ref.Yolov4())


class ReferenceDumps(unittest.TestCase):
    """The dumped activations are what the reference model computes from the checkpoint."""

    def test_dump_shapes(self):
        for case, size, n in [("s320", 320, 1), ("s640", 640, 1), ("s320_b2", 320, 2)]:
            expect = {"input": (n, 3, size, size), "down1": (n, 64, size // 2, size // 2),
                      "down2": (n, 128, size // 4, size // 4), "down3": (n, 256, size // 8, size // 8),
                      "down4": (n, 512, size // 16, size // 16), "down5": (n, 1024, size // 32, size // 32),
                      "neck1": (n, 128, size // 8, size // 8), "neck2": (n, 512, size // 32, size // 32),
                      "neck3": (n, 256, size // 16, size // 16), "head8": (n, 255, size // 8, size // 8),
                      "head16": (n, 255, size // 16, size // 16), "head32": (n, 255, size // 32, size // 32)}
            for name, shape in expect.items():
                a = np.load(td(case, name + ".npy"), mmap_mode="r")
                self.assertEqual(a.dtype, np.float32, (case, name))
                self.assertEqual(a.shape, shape, (case, name))

    def test_input_preprocessing(self):
        x = load("s640", "input.npy")
        np.testing.assert_array_equal(x[0], ref.load_image(os.path.join(SHARED, "images", "giraffe.jpg"), 640))
        self.assertGreaterEqual(float(x.min()), 0.0)
        self.assertLessEqual(float(x.max()), 1.0)

    def test_modules_reproduce_dumps(self):
        m = model()
        d = {n: torch.from_numpy(load("s320", n + ".npy")) for n in
             ["input", "down1", "down2", "down3", "down4", "down5", "neck1", "neck2", "neck3",
              "head8", "head16", "head32"]}
        with torch.no_grad():
            # each module from its dumped inputs (as the C++ per-module tests will do)
            got = {"down1": m.down1(d["input"]), "down2": m.down2(d["down1"]), "down3": m.down3(d["down2"]),
                   "down4": m.down4(d["down3"]), "down5": m.down5(d["down4"])}
            got.update(zip(["neck1", "neck2", "neck3"], m.neek(d["down5"], d["down4"], d["down3"])))
            got.update(zip(["head8", "head16", "head32"], m.head(d["neck1"], d["neck2"], d["neck3"])))
        for name, t in got.items():
            np.testing.assert_allclose(t.numpy(), d[name].numpy(), rtol=0, atol=1e-3, err_msg=name)

    def test_batch_rows_match_single_runs(self):
        b2 = [load("s320_b2", f"head{s}.npy") for s in ref.STRIDES]
        for row, name in enumerate(["dog", "horses"]):
            for s, a, b in zip(ref.STRIDES, b2, image_heads(name)):
                np.testing.assert_allclose(a[row], b[0], rtol=0, atol=1e-3, err_msg=f"{name} head{s}")


class HeadStatistics(unittest.TestCase):
    """The heads look like a trained detector's on every sample image at 320."""

    def test_box_logits_order_one(self):
        for name in ref.SAMPLE_IMAGES:
            for s, h in zip(ref.STRIDES, image_heads(name)):
                v = ref.split_head(h)
                for a in range(3):
                    for c, label in enumerate(["tx", "ty", "tw", "th"]):
                        ch = v[0, a, c]
                        self.assertLess(abs(float(ch.mean())), 3.0, (name, s, a, label))
                        self.assertTrue(0.3 <= float(ch.std()) <= 5.0, (name, s, a, label, float(ch.std())))

    def test_objectness_and_classes_mostly_negative(self):
        for name in ref.SAMPLE_IMAGES:
            v = np.concatenate([ref.split_head(h).reshape(3, 85, -1) for h in image_heads(name)], axis=2)
            obj, cls = v[:, 4], v[:, 5:]
            self.assertGreater(float((obj < 0).mean()), 0.8, name)
            self.assertGreater(float((cls < 0).mean()), 0.9, name)
            self.assertLess(float(np.abs(v).max()), 50.0, name)

    def test_boxes_above_threshold(self):
        report = []
        for name in ref.SAMPLE_IMAGES:
            boxes, pairs = ref.count_boxes(image_heads(name), 0.3)
            report.append(f"{name}={int(boxes[0])}")
            self.assertTrue(10 <= boxes[0] <= 1000, (name, int(boxes[0])))
        print("\nboxes with sigmoid(obj)*sigmoid(cls) > 0.3 at 320:", ", ".join(report))


def bf16_round(x):
    """Round to the nearest bfloat16 (ties to even) and back: the same on every CPU."""
    return x.to(torch.bfloat16).float()


def bf16_operand_model(fp32_model):
    """The reference as yolo4's bf16 preset computes it, independent of the CPU's bf16 support:
    BatchNorm folded into each conv, the folded weights and every conv's input rounded to bf16,
    products and sums in fp32 (exact for bf16 x bf16), each block's output stored as bf16."""
    import copy
    m = copy.deepcopy(fp32_model)
    for _, block in ref.conv_blocks(m):
        conv = block.conv[0]
        if block.bn:
            conv = torch.nn.utils.fusion.fuse_conv_bn_eval(conv, block.conv[1])
        conv.weight.data = bf16_round(conv.weight.data)
        layers = [conv] + [layer for layer in block.conv[1:] if not isinstance(layer, torch.nn.BatchNorm2d)]
        block.conv = torch.nn.ModuleList(layers)
        block.register_forward_pre_hook(lambda _, inputs: tuple(bf16_round(x) for x in inputs))
        block.register_forward_hook(lambda _, inputs, out: bf16_round(out))
    return m


class Bf16Operands(unittest.TestCase):
    """The checkpoint is not chaotic: bf16 operands (as the bf16 presets round them) keep the heads
    close to fp32. Rounding is explicit and the arithmetic fp32, so the result does not depend on
    whether this CPU (or PyTorch's autocast on it) has a bf16 path."""

    def test_bf16_operands_pcc(self):
        m = bf16_operand_model(model())
        x = np.concatenate([load("s320", "images", n, "input.npy") for n in ref.SAMPLE_IMAGES])
        with torch.no_grad():
            heads = [h.numpy() for h in m(bf16_round(torch.from_numpy(x)))]
        worst = 1.0
        lines = []
        for i, name in enumerate(ref.SAMPLE_IMAGES):
            pccs = [ref.pcc(h[i], f[0]) for h, f in zip(heads, image_heads(name))]
            worst = min(worst, *pccs)
            lines.append(f"{name}: " + " ".join(f"{p:.5f}" for p in pccs))
        print("\nbf16 operands vs fp32 PCC (head8 head16 head32):\n  " + "\n  ".join(lines))
        self.assertGreaterEqual(worst, BF16_MIN_PCC)


class DarknetOpenCV(unittest.TestCase):
    """yolov4_random.weights + yolov4.cfg in cv2.dnn give the PyTorch heads."""

    def test_opencv_roundtrip(self):
        import cv2
        cv2.setNumThreads(torch.get_num_threads())
        x = load("s320", "input.npy")
        theirs = mc.opencv_heads(shared_cfg(), td("yolov4_random.weights"), x)
        lines = []
        for s, t in zip(ref.STRIDES, theirs):
            ours = load("s320", f"head{s}.npy")
            self.assertEqual(t.shape, ours.shape)
            p = ref.pcc(ours, t)
            lines.append(f"head{s}: PCC {p:.7f} max|diff| {np.abs(ours - t).max():.3g}")
            self.assertGreater(p, OPENCV_MIN_PCC, f"head{s}")
        print("\nOpenCV darknet vs PyTorch (darknet BN eps 1e-6 vs 1e-5): " + "; ".join(lines))


if __name__ == "__main__":
    unittest.main(verbosity=2)
