"""PyTorch reference model of YOLOv4 for the yolo4 C++ engine's tests.

Module structure follows the tech report "YOLOv4 in TT-NN" (Down1..Down5, Neck, Head);
parameter names are those of the pytorch-YOLOv4 checkpoint ``yolov4.pth``:

    down1.conv1.conv.0.weight                       Conv2d (no bias: BN follows)
    down1.conv1.conv.1.{weight,bias,running_mean,running_var,num_batches_tracked}
    down2.resblock.module_list.0.1.conv.0.weight    residual block 0, second conv
    neek.conv1.conv.0.weight                        (sic: "neek")
    head.conv2.conv.0.{weight,bias}                 255-channel outputs: head.conv2/conv10/conv18

Dataflow (shapes for an HxW input, C = channels):

    Down1(x)  -> d1 (64,  H/2)      Down2(d1) -> d2 (128, H/4)     Down3(d2) -> d3 (256, H/8)
    Down4(d3) -> d4 (512, H/16)     Down5(d4) -> d5 (1024, H/32)
    Neck(d5, d4, d3)        -> (n1, n2, n3) = (128ch @ H/8, 512ch @ H/32, 256ch @ H/16)
    Head(n1, n2, n3)        -> (h8, h16, h32), each (N, 255, H/s, W/s), raw logits

The Neck/Head argument and return orders mirror tt-metal's reference (and the tech report):
the neck returns its stride-8 output, then the stride-32 branch (after neek.conv6), then the
stride-16 branch (after neek.conv13); Head concatenates head.conv3's output with its third
argument and head.conv11's output with its second argument.

Activations: Mish in Down1..Down5, LeakyReLU(0.1) in Neck and Head, head output convs linear.
SPP concatenates [maxpool13, maxpool9, maxpool5, x] (stride 1, same padding); upsampling is
nearest x2. Any input whose sides are multiples of 32 works, any batch size.

Only /usr/bin/python3 (Debian's, with torch) is supported.
"""

import math
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

BN_EPS = 1e-5
NUM_CLASSES = 80
NUM_ANCHORS_PER_SCALE = 3
ATTRS = 5 + NUM_CLASSES  # tx, ty, tw, th, obj, classes
HEAD_CHANNELS = NUM_ANCHORS_PER_SCALE * ATTRS  # 255
# Darknet anchors (pixels at the network input) and which ones each output uses.
ANCHORS = [(12, 16), (19, 36), (40, 28), (36, 75), (76, 55), (72, 146), (142, 110), (192, 243), (459, 401)]
ANCHOR_MASKS = {8: (0, 1, 2), 16: (3, 4, 5), 32: (6, 7, 8)}
STRIDES = (8, 16, 32)
SAMPLE_IMAGES = ("dog", "eagle", "giraffe", "horses", "kite", "person")


def mish(x):
    return x * torch.tanh(F.softplus(x))


class Mish(nn.Module):
    def forward(self, x):
        return mish(x)


class Conv_Bn_Activation(nn.Module):
    """Conv2d ('same' padding) [+ BatchNorm2d] + activation; parameters under ``conv.<i>``."""

    def __init__(self, in_ch, out_ch, kernel, stride, activation, bn=True, bias=False):
        super().__init__()
        self.in_ch, self.out_ch, self.kernel, self.stride = in_ch, out_ch, kernel, stride
        self.activation, self.bn = activation, bn
        layers = [nn.Conv2d(in_ch, out_ch, kernel, stride, (kernel - 1) // 2, bias=bias)]
        if bn:
            layers.append(nn.BatchNorm2d(out_ch, eps=BN_EPS))
        if activation == "mish":
            layers.append(Mish())
        elif activation == "leaky":
            layers.append(nn.LeakyReLU(0.1))
        elif activation != "linear":
            raise ValueError(f"unknown activation {activation!r}")
        self.conv = nn.ModuleList(layers)

    def forward(self, x):
        for layer in self.conv:
            x = layer(x)
        return x


def _cba(in_ch, out_ch, kernel, stride, act):
    return Conv_Bn_Activation(in_ch, out_ch, kernel, stride, act)


class ResBlock(nn.Module):
    """``nblocks`` times: x = x + conv3x3(conv1x1(x)), both Mish, keys module_list.<i>.<0|1>."""

    def __init__(self, ch, nblocks):
        super().__init__()
        self.module_list = nn.ModuleList(
            nn.ModuleList([_cba(ch, ch, 1, 1, "mish"), _cba(ch, ch, 3, 1, "mish")]) for _ in range(nblocks))

    def forward(self, x):
        for first, second in self.module_list:
            x = x + second(first(x))
        return x


class DownSample1(nn.Module):
    """3 -> 64 channels, stride 2 (the CSP stage without a ResBlock module)."""

    def __init__(self):
        super().__init__()
        self.conv1 = _cba(3, 32, 3, 1, "mish")
        self.conv2 = _cba(32, 64, 3, 2, "mish")
        self.conv3 = _cba(64, 64, 1, 1, "mish")  # shortcut branch
        self.conv4 = _cba(64, 64, 1, 1, "mish")  # main branch
        self.conv5 = _cba(64, 32, 1, 1, "mish")
        self.conv6 = _cba(32, 64, 3, 1, "mish")
        self.conv7 = _cba(64, 64, 1, 1, "mish")
        self.conv8 = _cba(128, 64, 1, 1, "mish")

    def forward(self, x):
        x = self.conv2(self.conv1(x))
        side = self.conv3(x)
        main = self.conv4(x)
        main = main + self.conv6(self.conv5(main))
        main = self.conv7(main)
        return self.conv8(torch.cat([main, side], dim=1))


class _CspStage(nn.Module):
    """Down2..Down5: stride-2 conv, split into two 1x1 branches, ResBlock on one, concat, 1x1."""

    def __init__(self, in_ch, out_ch, nblocks):
        super().__init__()
        half = out_ch // 2
        self.conv1 = _cba(in_ch, out_ch, 3, 2, "mish")
        self.conv2 = _cba(out_ch, half, 1, 1, "mish")  # shortcut branch
        self.conv3 = _cba(out_ch, half, 1, 1, "mish")  # main branch
        self.resblock = ResBlock(half, nblocks)
        self.conv4 = _cba(half, half, 1, 1, "mish")
        self.conv5 = _cba(out_ch, out_ch, 1, 1, "mish")

    def forward(self, x):
        x = self.conv1(x)
        side = self.conv2(x)
        main = self.conv4(self.resblock(self.conv3(x)))
        return self.conv5(torch.cat([main, side], dim=1))


class DownSample2(_CspStage):
    def __init__(self):
        super().__init__(64, 128, 2)


class DownSample3(_CspStage):
    def __init__(self):
        super().__init__(128, 256, 8)


class DownSample4(_CspStage):
    def __init__(self):
        super().__init__(256, 512, 8)


class DownSample5(_CspStage):
    def __init__(self):
        super().__init__(512, 1024, 4)


def upsample2(x):
    return F.interpolate(x, scale_factor=2, mode="nearest")


def spp(x):
    pools = [F.max_pool2d(x, k, 1, k // 2) for k in (13, 9, 5)]
    return torch.cat(pools + [x], dim=1)


class Neck(nn.Module):
    """SPP + PANet top-down path. forward(d5, d4, d3) -> (128ch@/8, 512ch@/32, 256ch@/16)."""

    def __init__(self):
        super().__init__()
        L = "leaky"
        self.conv1 = _cba(1024, 512, 1, 1, L)
        self.conv2 = _cba(512, 1024, 3, 1, L)
        self.conv3 = _cba(1024, 512, 1, 1, L)
        # SPP: concat [pool13, pool9, pool5, conv3] -> 2048 channels
        self.conv4 = _cba(2048, 512, 1, 1, L)
        self.conv5 = _cba(512, 1024, 3, 1, L)
        self.conv6 = _cba(1024, 512, 1, 1, L)  # -> output 2 (stride 32)
        self.conv7 = _cba(512, 256, 1, 1, L)  # then upsample x2
        self.conv8 = _cba(512, 256, 1, 1, L)  # lateral from d4
        self.conv9 = _cba(512, 256, 1, 1, L)  # on concat [conv8(d4), up]
        self.conv10 = _cba(256, 512, 3, 1, L)
        self.conv11 = _cba(512, 256, 1, 1, L)
        self.conv12 = _cba(256, 512, 3, 1, L)
        self.conv13 = _cba(512, 256, 1, 1, L)  # -> output 3 (stride 16)
        self.conv14 = _cba(256, 128, 1, 1, L)  # then upsample x2
        self.conv15 = _cba(256, 128, 1, 1, L)  # lateral from d3
        self.conv16 = _cba(256, 128, 1, 1, L)  # on concat [conv15(d3), up]
        self.conv17 = _cba(128, 256, 3, 1, L)
        self.conv18 = _cba(256, 128, 1, 1, L)
        self.conv19 = _cba(128, 256, 3, 1, L)
        self.conv20 = _cba(256, 128, 1, 1, L)  # -> output 1 (stride 8)

    def forward(self, input1, input2, input3):
        d5, d4, d3 = input1, input2, input3
        x = self.conv3(self.conv2(self.conv1(d5)))
        x = self.conv4(spp(x))
        out_s32 = self.conv6(self.conv5(x))
        up = upsample2(self.conv7(out_s32))
        x = torch.cat([self.conv8(d4), up], dim=1)
        x = self.conv11(self.conv10(self.conv9(x)))
        out_s16 = self.conv13(self.conv12(x))
        up = upsample2(self.conv14(out_s16))
        x = torch.cat([self.conv15(d3), up], dim=1)
        x = self.conv18(self.conv17(self.conv16(x)))
        out_s8 = self.conv20(self.conv19(x))
        return out_s8, out_s32, out_s16


class Head(nn.Module):
    """PANet bottom-up path + 3 detection convs. forward(n1, n2, n3) -> (h8, h16, h32)."""

    def __init__(self):
        super().__init__()
        L = "leaky"
        out = HEAD_CHANNELS
        self.conv1 = _cba(128, 256, 3, 1, L)
        self.conv2 = Conv_Bn_Activation(256, out, 1, 1, "linear", bn=False, bias=True)  # stride 8
        self.conv3 = _cba(128, 256, 3, 2, L)
        self.conv4 = _cba(512, 256, 1, 1, L)  # on concat [conv3(n1), n3]
        self.conv5 = _cba(256, 512, 3, 1, L)
        self.conv6 = _cba(512, 256, 1, 1, L)
        self.conv7 = _cba(256, 512, 3, 1, L)
        self.conv8 = _cba(512, 256, 1, 1, L)
        self.conv9 = _cba(256, 512, 3, 1, L)
        self.conv10 = Conv_Bn_Activation(512, out, 1, 1, "linear", bn=False, bias=True)  # stride 16
        self.conv11 = _cba(256, 512, 3, 2, L)
        self.conv12 = _cba(1024, 512, 1, 1, L)  # on concat [conv11(x8), n2]
        self.conv13 = _cba(512, 1024, 3, 1, L)
        self.conv14 = _cba(1024, 512, 1, 1, L)
        self.conv15 = _cba(512, 1024, 3, 1, L)
        self.conv16 = _cba(1024, 512, 1, 1, L)
        self.conv17 = _cba(512, 1024, 3, 1, L)
        self.conv18 = Conv_Bn_Activation(1024, out, 1, 1, "linear", bn=False, bias=True)  # stride 32

    def forward(self, input1, input2, input3):
        n_s8, n_s32, n_s16 = input1, input2, input3
        h8 = self.conv2(self.conv1(n_s8))
        x = torch.cat([self.conv3(n_s8), n_s16], dim=1)
        x8 = self.conv8(self.conv7(self.conv6(self.conv5(self.conv4(x)))))
        h16 = self.conv10(self.conv9(x8))
        x = torch.cat([self.conv11(x8), n_s32], dim=1)
        x = self.conv16(self.conv15(self.conv14(self.conv13(self.conv12(x)))))
        h32 = self.conv18(self.conv17(x))
        return h8, h16, h32


class Yolov4(nn.Module):
    def __init__(self):
        super().__init__()
        self.down1 = DownSample1()
        self.down2 = DownSample2()
        self.down3 = DownSample3()
        self.down4 = DownSample4()
        self.down5 = DownSample5()
        self.neek = Neck()
        self.head = Head()

    def forward(self, x):
        return self.forward_all(x)["heads"]

    def forward_all(self, x):
        """Every module boundary: d1..d5, neck (3-tuple, Head's argument order), heads (h8, h16, h32)."""
        if x.dim() != 4 or x.shape[1] != 3 or x.shape[2] % 32 or x.shape[3] % 32:
            raise ValueError(f"input must be (N, 3, H, W) with H, W multiples of 32, got {tuple(x.shape)}")
        d1 = self.down1(x)
        d2 = self.down2(d1)
        d3 = self.down3(d2)
        d4 = self.down4(d3)
        d5 = self.down5(d4)
        neck = self.neek(d5, d4, d3)
        heads = self.head(*neck)
        return {"d1": d1, "d2": d2, "d3": d3, "d4": d4, "d5": d5, "neck": neck, "heads": heads}


def conv_blocks(model):
    """(key prefix, Conv_Bn_Activation) in registration order == darknet cfg order (110 blocks)."""
    return [(name, m) for name, m in model.named_modules() if isinstance(m, Conv_Bn_Activation)]


def build_model(state_dict=None):
    model = Yolov4()
    if state_dict is not None:
        model.load_state_dict({k: v.float() for k, v in state_dict.items()}, strict=True)
    return model.eval()


def load_model(path):
    return build_model(torch.load(path, map_location="cpu"))


# --- images --------------------------------------------------------------------------------------

def load_image(path, size):
    """cv2 read, BGR->RGB, resize to size x size (INTER_LINEAR), /255 -> (3, size, size) float32."""
    import cv2
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise FileNotFoundError(path)
    img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    img = cv2.resize(img, (size, size), interpolation=cv2.INTER_LINEAR)
    return np.ascontiguousarray(img.transpose(2, 0, 1), dtype=np.float32) / np.float32(255.0)


def load_images(images_dir, names, size):
    return np.stack([load_image(os.path.join(images_dir, n + ".jpg"), size) for n in names])


# --- metrics and decoding helpers -----------------------------------------------------------------

def pcc(a, b):
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    a = a - a.mean()
    b = b - b.mean()
    denom = math.sqrt(float((a * a).sum()) * float((b * b).sum()))
    if denom == 0.0:
        return 1.0 if np.array_equal(a, b) else 0.0
    return float((a * b).sum() / denom)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))


def split_head(h):
    """(N, 255, H, W) -> (N, 3, 85, H, W) view: [:, a, 0:4] box, [:, a, 4] obj, [:, a, 5:] classes."""
    h = np.asarray(h)
    n, c, hh, ww = h.shape
    assert c == HEAD_CHANNELS, h.shape
    return h.reshape(n, NUM_ANCHORS_PER_SCALE, ATTRS, hh, ww)


def count_boxes(heads, thresh=0.3):
    """Per sample: number of boxes (anchor x cell) with sigmoid(obj) * max sigmoid(cls) > thresh,
    and number of (box, class) pairs above thresh. heads: iterable of (N, 255, H, W)."""
    boxes = pairs = None
    for h in heads:
        v = split_head(h)
        score = sigmoid(v[:, :, 4:5]) * sigmoid(v[:, :, 5:])  # (N, 3, 80, H, W)
        above = score > thresh
        b = above.any(axis=2).reshape(v.shape[0], -1).sum(axis=1)
        p = above.reshape(v.shape[0], -1).sum(axis=1)
        boxes = b if boxes is None else boxes + b
        pairs = p if pairs is None else pairs + p
    return boxes, pairs


if __name__ == "__main__":
    m = Yolov4().eval()
    sd = m.state_dict()
    print(f"{len(sd)} state_dict entries, {len(conv_blocks(m))} conv blocks, "
          f"{sum(p.numel() for p in m.parameters())} parameters")
    with torch.no_grad():
        outs = m.forward_all(torch.zeros(2, 3, 64, 96))
    for k, v in outs.items():
        shapes = [tuple(t.shape) for t in v] if isinstance(v, tuple) else tuple(v.shape)
        print(k, shapes)
