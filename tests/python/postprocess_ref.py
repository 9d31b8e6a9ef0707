#!/usr/bin/python3
"""Reference YOLOv4 post-processing (numpy only) for yolo4's C++ detect tests.

Same formulas as src/yolo4/detect: decode the three heads, map boxes to image pixels (plain resize
or darknet letterbox), clip, score = sigmoid(obj) * sigmoid(class), then per-class greedy NMS
(IoU or darknet's DIoU) and a max_det cap. Arithmetic is float32 in the C++ operation order, so
the only differences left are the last-ulp ones of exp/pow implementations.

  postprocess_ref.py decode --heads h8.npy h16.npy h32.npy --net 320 320 --image 768 576 \
      --mode letterbox --labels single --conf 0.3 --nms iou --iou 0.4 --out boxes.json
  postprocess_ref.py preprocess --image dog.jpg --net 320 320 --mode plain --out input.npy

decode writes {"decoded": [[class_id, score, x1, y1, x2, y2], ...], "final": [...]}: the boxes
before NMS (heads in the given order, then row, column, anchor, class) and after NMS + max_det.
"""

import argparse
import json
import sys

import numpy as np

f32 = np.float32

DEFAULT_ANCHORS = [12, 16, 19, 36, 40, 28, 36, 75, 76, 55, 72, 146, 142, 110, 192, 243, 459, 401]
ANCHORS_PER_LAYER = 3


def sigmoid(x):
    return f32(1) / (f32(1) + np.exp(-x))


def letterbox_content(width, height, net_w, net_h):
    """Darknet's letter_box_image size, integer division included."""
    if f32(net_w) / f32(width) < f32(net_h) / f32(height):
        new_w, new_h = net_w, (height * net_w) // width
    else:
        new_w, new_h = (width * net_h) // height, net_h
    return max(new_w, 1), max(new_h, 1)


def make_transform(width, height, net_w, net_h, mode):
    """(scale_x, scale_y, offset_x, offset_y): image = (net - offset) / scale."""
    new_w, new_h = (net_w, net_h) if mode == "plain" else letterbox_content(width, height, net_w, net_h)
    return (f32(new_w) / f32(width), f32(new_h) / f32(height),
            f32((net_w - new_w) // 2), f32((net_h - new_h) // 2))


def decode_head(head, anchors, scale_xy, net_w, net_h, image_w, image_h, tf, conf, multi, nc):
    """Rows (class_id, score, x1, y1, x2, y2) of one (C, H, W) head in row, column, anchor, class
    order."""
    _, grid_h, grid_w = head.shape
    head = head.reshape(ANCHORS_PER_LAYER, 5 + nc, grid_h, grid_w).transpose(2, 3, 0, 1)  # H,W,A,F
    scale_x, scale_y, offset_x, offset_y = tf
    s = f32(scale_xy)
    gy, gx = np.meshgrid(np.arange(grid_h, dtype=f32), np.arange(grid_w, dtype=f32), indexing="ij")
    gx, gy = gx[:, :, None], gy[:, :, None]
    aw = np.asarray(anchors[0::2], dtype=f32)
    ah = np.asarray(anchors[1::2], dtype=f32)
    with np.errstate(over="ignore", invalid="ignore"):
        obj = sigmoid(head[..., 4])
        bx = (sigmoid(head[..., 0]) * s - f32(0.5) * (s - f32(1)) + gx) / f32(grid_w)
        by = (sigmoid(head[..., 1]) * s - f32(0.5) * (s - f32(1)) + gy) / f32(grid_h)
        bw = np.exp(head[..., 2]) * aw
        bh = np.exp(head[..., 3]) * ah
        cx = (bx * f32(net_w) - offset_x) / scale_x
        cy = (by * f32(net_h) - offset_y) / scale_y
        half_w = f32(0.5) * bw / scale_x
        half_h = f32(0.5) * bh / scale_y
        x1 = np.clip(cx - half_w, f32(0), f32(image_w))
        y1 = np.clip(cy - half_h, f32(0), f32(image_h))
        x2 = np.clip(cx + half_w, f32(0), f32(image_w))
        y2 = np.clip(cy + half_h, f32(0), f32(image_h))
        candidate = (obj > f32(conf)) & (x2 > x1) & (y2 > y1)
    rows = []
    for y, x, a in zip(*np.nonzero(candidate)):  # row-major: row, column, anchor
        logits = head[y, x, a, 5:]
        box = [float(v[y, x, a]) for v in (x1, y1, x2, y2)]
        if multi:
            scores = obj[y, x, a] * sigmoid(logits)
            classes = np.nonzero(scores > f32(conf))[0]
        else:
            best = int(np.argmax(logits))  # first maximum, like the C++ strict '>'
            scores = np.zeros(nc, dtype=f32)
            scores[best] = obj[y, x, a] * sigmoid(logits[best])
            classes = [best] if scores[best] > f32(conf) else []
        rows += [[int(c), float(scores[c])] + box for c in classes]
    return rows


def iou(a, b):
    """IoU of box a (4,) with boxes b (N, 4), float32, C++ operation order."""
    w = np.minimum(a[2], b[:, 2]) - np.maximum(a[0], b[:, 0])
    h = np.minimum(a[3], b[:, 3]) - np.maximum(a[1], b[:, 1])
    overlap = (w > 0) & (h > 0)
    inter = np.where(overlap, w * h, f32(0))
    area_a = (a[2] - a[0]) * (a[3] - a[1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a + area_b - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(overlap & (union > 0), inter / union, f32(0))


def diou(a, b, beta):
    """Darknet's box_diou: IoU - (centre distance^2 / enclosing diagonal^2) ** beta."""
    base = iou(a, b)
    cw = np.maximum(a[2], b[:, 2]) - np.minimum(a[0], b[:, 0])
    ch = np.maximum(a[3], b[:, 3]) - np.minimum(a[1], b[:, 1])
    c = cw * cw + ch * ch
    dx = f32(0.5) * (a[0] + a[2]) - f32(0.5) * (b[:, 0] + b[:, 2])
    dy = f32(0.5) * (a[1] + a[3]) - f32(0.5) * (b[:, 1] + b[:, 3])
    with np.errstate(divide="ignore", invalid="ignore"):
        penalty = np.power((dx * dx + dy * dy) / c, f32(beta))
    return np.where(c == 0, base, base - penalty)


def nms(rows, kind, threshold, beta, max_det):
    """Per-class greedy NMS by descending score (stable), then the max_det cap (0: no cap)."""
    if not rows:
        return []
    scores = np.asarray([r[1] for r in rows], dtype=f32)
    boxes = np.asarray([r[2:] for r in rows], dtype=f32)
    kept, kept_by_class = [], {}
    for i in np.argsort(-scores, kind="stable"):
        same = kept_by_class.setdefault(rows[i][0], [])
        if same:
            others = boxes[same]
            overlap = iou(boxes[i], others) if kind == "iou" else diou(boxes[i], others, beta)
            if np.any(overlap > f32(threshold)):
                continue
        same.append(i)
        kept.append(rows[i])
        if len(kept) == max_det:
            break
    return kept


def load_head(path, layout):
    head = np.load(path).astype(f32)
    if head.ndim == 4:
        if head.shape[0] != 1:
            sys.exit(f"{path}: expected batch 1, got shape {head.shape}")
        head = head[0]
    if layout == "nhwc":
        head = head.transpose(2, 0, 1)
    return np.ascontiguousarray(head)


def cmd_decode(args):
    net_w, net_h = args.net
    image_w, image_h = args.image
    anchors = args.anchors or DEFAULT_ANCHORS
    scale_xy = args.scale_xy or [1.0, 1.0, 1.0]
    tf = make_transform(image_w, image_h, net_w, net_h, args.mode)
    decoded = []
    for path in args.heads:
        head = load_head(path, args.layout)
        stride = net_h // head.shape[1]
        layer = {8: 0, 16: 1, 32: 2}[stride]
        layer_anchors = anchors[6 * layer: 6 * layer + 6]
        decoded += decode_head(head, layer_anchors, scale_xy[layer], net_w, net_h, image_w, image_h,
                               tf, args.conf, args.labels == "multi", args.num_classes)
    final = decoded if args.nms == "none" else nms(decoded, args.nms, args.iou, args.beta,
                                                   args.max_det)
    with open(args.out, "w") as out:
        json.dump({"decoded": decoded, "final": final}, out)


def cmd_preprocess(args):
    import cv2  # only this command needs OpenCV

    net_w, net_h = args.net
    image = cv2.imread(args.image, cv2.IMREAD_COLOR)
    if image is None:
        sys.exit(f"{args.image}: cannot read")
    rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    height, width = rgb.shape[:2]
    if args.mode == "plain":
        out = cv2.resize(rgb, (net_w, net_h), interpolation=cv2.INTER_LINEAR).astype(f32) / f32(255)
    else:
        new_w, new_h = letterbox_content(width, height, net_w, net_h)
        resized = cv2.resize(rgb, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
        out = np.full((net_h, net_w, 3), 0.5, dtype=f32)
        ox, oy = (net_w - new_w) // 2, (net_h - new_h) // 2
        out[oy:oy + new_h, ox:ox + new_w] = resized.astype(f32) / f32(255)
    np.save(args.out, out[None])  # (1, H, W, 3)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    dec = sub.add_parser("decode", help="decode heads + NMS -> boxes JSON")
    dec.add_argument("--heads", nargs="+", required=True, help="head .npy files, (1,)C,H,W or H,W,C")
    dec.add_argument("--layout", choices=["nchw", "nhwc"], default="nchw")
    dec.add_argument("--net", type=int, nargs=2, metavar=("W", "H"), required=True)
    dec.add_argument("--image", type=int, nargs=2, metavar=("W", "H"), required=True)
    dec.add_argument("--mode", choices=["plain", "letterbox"], default="plain")
    dec.add_argument("--labels", choices=["single", "multi"], default="single")
    dec.add_argument("--conf", type=float, default=0.3)
    dec.add_argument("--nms", choices=["iou", "diou", "none"], default="iou")
    dec.add_argument("--iou", type=float, default=0.4)
    dec.add_argument("--beta", type=float, default=0.6)
    dec.add_argument("--max-det", type=int, default=300)
    dec.add_argument("--num-classes", type=int, default=80)
    dec.add_argument("--anchors", type=float, nargs=18)
    dec.add_argument("--scale-xy", type=float, nargs=3)
    dec.add_argument("--out", required=True)
    dec.set_defaults(func=cmd_decode)

    pre = sub.add_parser("preprocess", help="image -> network input (1, H, W, 3) float32 .npy")
    pre.add_argument("--image", required=True)
    pre.add_argument("--net", type=int, nargs=2, metavar=("W", "H"), required=True)
    pre.add_argument("--mode", choices=["plain", "letterbox"], default="plain")
    pre.add_argument("--out", required=True)
    pre.set_defaults(func=cmd_preprocess)

    args = parser.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
