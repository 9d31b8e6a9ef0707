#!/usr/bin/python3
"""Structure of the PyTorch reference (no test data needed; small inputs, random weights).

    /usr/bin/python3 -m unittest -v test_reference_model
"""

import os
import sys
import unittest

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import yolov4_ref as ref  # noqa: E402

torch.set_num_threads(int(os.environ.get("YOLO4_TORCH_THREADS", "2")))


def small_model():
    torch.manual_seed(0)
    m = ref.Yolov4().eval()
    with torch.no_grad():  # non-trivial BN so that the structure tests see real values
        for mod in m.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.running_var.uniform_(0.5, 2.0)
                mod.running_mean.normal_(0, 0.1)
                mod.weight.uniform_(0.2, 0.6)
                mod.bias.normal_(0, 0.3)
    return m


class ReferenceModel(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.m = small_model()

    def test_key_names(self):
        sd = self.m.state_dict()
        self.assertEqual(len(sd), 648)
        self.assertEqual(sum(p.numel() for p in self.m.parameters()), 64363101)
        for k in ["down1.conv1.conv.0.weight", "down1.conv1.conv.1.num_batches_tracked",
                  "down3.resblock.module_list.7.1.conv.1.running_mean", "neek.conv20.conv.0.weight",
                  "head.conv2.conv.0.bias", "head.conv10.conv.0.bias", "head.conv18.conv.0.bias"]:
            self.assertIn(k, sd)
        top = {k.split(".")[0] for k in sd}
        self.assertEqual(top, {"down1", "down2", "down3", "down4", "down5", "neek", "head"})
        for name, block in ref.conv_blocks(self.m):
            self.assertEqual(block.conv[0].bias is not None, not block.bn, name)
            if block.bn:
                self.assertEqual(block.conv[1].eps, 1e-5)

    def test_activations(self):
        for name, block in ref.conv_blocks(self.m):
            if name.startswith("down"):
                self.assertEqual(block.activation, "mish", name)
            elif name in ("head.conv2", "head.conv10", "head.conv18"):
                self.assertEqual((block.activation, block.bn, block.out_ch), ("linear", False, 255), name)
            else:
                self.assertEqual(block.activation, "leaky", name)
        x = torch.linspace(-5, 5, 101)
        np.testing.assert_allclose(ref.mish(x).numpy(), (x * torch.tanh(torch.log1p(torch.exp(x)))).numpy(),
                                   rtol=1e-5, atol=1e-6)

    def test_shapes_any_multiple_of_32(self):
        for n, h, w in [(1, 64, 64), (2, 96, 64), (1, 32, 160)]:
            with torch.no_grad():
                out = self.m.forward_all(torch.rand(n, 3, h, w))
            self.assertEqual(tuple(out["d1"].shape), (n, 64, h // 2, w // 2))
            self.assertEqual(tuple(out["d5"].shape), (n, 1024, h // 32, w // 32))
            self.assertEqual([tuple(t.shape) for t in out["neck"]],
                             [(n, 128, h // 8, w // 8), (n, 512, h // 32, w // 32), (n, 256, h // 16, w // 16)])
            self.assertEqual([tuple(t.shape) for t in out["heads"]],
                             [(n, 255, h // s, w // s) for s in (8, 16, 32)])
        with self.assertRaises(ValueError):
            self.m.forward_all(torch.rand(1, 3, 48, 64))

    def test_module_chain_equals_forward(self):
        x = torch.rand(2, 3, 64, 96)
        with torch.no_grad():
            heads = self.m(x)
            d1 = self.m.down1(x)
            d2 = self.m.down2(d1)
            d3 = self.m.down3(d2)
            d4 = self.m.down4(d3)
            d5 = self.m.down5(d4)
            chained = self.m.head(*self.m.neek(d5, d4, d3))
            single = self.m(x[1:])
        for a, b, c in zip(heads, chained, single):
            torch.testing.assert_close(a, b)
            torch.testing.assert_close(a[1:], c, rtol=1e-4, atol=1e-4)

    def test_spp_order_and_upsample(self):
        x = torch.zeros(1, 1, 16, 16)
        x[0, 0, 8, 8] = 1.0
        y = ref.spp(x)
        support = [int((y[0, i] > 0).sum()) for i in range(4)]
        self.assertEqual(support, [13 * 13, 9 * 9, 5 * 5, 1])  # [pool13, pool9, pool5, x]
        u = ref.upsample2(torch.arange(4.0).reshape(1, 1, 2, 2))
        self.assertEqual(u[0, 0].tolist(), [[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3], [2, 2, 3, 3]])

    def test_head_consumes_neck_order(self):
        # Head(n1, n2, n3): n1 = 128ch stride 8, n2 = 512ch stride 32, n3 = 256ch stride 16
        n1, n2, n3 = torch.rand(1, 128, 8, 8), torch.rand(1, 512, 2, 2), torch.rand(1, 256, 4, 4)
        with torch.no_grad():
            h8, h16, h32 = self.m.head(n1, n2, n3)
            h8b, h16b, h32b = self.m.head(n1, n2 * 2, n3)
        torch.testing.assert_close(h8, h8b)
        torch.testing.assert_close(h16, h16b)  # n2 only feeds the stride-32 branch
        self.assertFalse(torch.allclose(h32, h32b))


if __name__ == "__main__":
    unittest.main(verbosity=2)
