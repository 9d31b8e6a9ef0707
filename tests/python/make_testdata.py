#!/usr/bin/python3
"""Generate the yolo4 test data: random checkpoints and PyTorch reference activations.

    /usr/bin/python3 make_testdata.py --out DIR [--shared-data DIR] [--force]

Writes into DIR (nothing is done when DIR/stamp matches the hash of the generator sources
yolov4_ref.py, make_checkpoint.py, make_testdata.py and every file is present):

    yolov4_random.pth          float32 state_dict (pytorch-YOLOv4 key names, see yolov4_ref.py)
    yolov4_random_f16.pth      the same, floating tensors cast to float16
    yolov4_random_bf16.pth     the same, floating tensors cast to bfloat16
    yolov4_random.weights      darknet weights for shared-data yolov4.cfg (same values)
    s320/      dog.jpg at 320x320            input.npy (1,3,320,320) float32 RGB in [0,1]
    s416/      eagle.jpg at 416x416          down1..down5.npy, neck1..neck3.npy,
    s640/      giraffe.jpg at 640x640
    s320_b2/   dog.jpg + horses.jpg at 320   head8.npy, head16.npy, head32.npy (float32 NCHW)
    s320/images/<name>/{input,head8,head16,head32}.npy   each of the six sample images at 320
    manifest.json              what every file is, shapes, checkpoint facts, cfg conv table
    stamp                      hash of the generator sources (written last)

Images are read with cv2, BGR->RGB, cv2.resize(INTER_LINEAR) to size x size, divided by 255.
neck1..neck3 are the Neck outputs in Head's argument order: neck1 = 128 ch at stride 8,
neck2 = 512 ch at stride 32, neck3 = 256 ch at stride 16 (tt-metal / tech report order).
head8/16/32 are the raw 255-channel head convs (3 anchors x [tx, ty, tw, th, obj, 80 classes]).
"""

import argparse
import hashlib
import json
import os
import shutil
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_checkpoint as mc  # noqa: E402
import yolov4_ref as ref  # noqa: E402

CASES = [  # directory, size, images
    ("s320", 320, ["dog"]),
    ("s416", 416, ["eagle"]),
    ("s640", 640, ["giraffe"]),
    ("s320_b2", 320, ["dog", "horses"]),
]
CHECKPOINTS = ["yolov4_random.pth", "yolov4_random_f16.pth", "yolov4_random_bf16.pth", "yolov4_random.weights"]
DUMP_NAMES = ["input"] + [f"down{i}" for i in range(1, 6)] + [f"neck{i}" for i in range(1, 4)] + \
    [f"head{s}" for s in ref.STRIDES]
IMAGE_DUMP_NAMES = ["input"] + [f"head{s}" for s in ref.STRIDES]

T0 = time.time()


def log(msg):
    print(f"[make_testdata {time.time() - T0:6.1f}s] {msg}", flush=True)


# The sources that determine the generated data. (Not every tests/python/*.py: other tools and
# tests live there too, and editing them must not trigger a multi-minute regeneration.)
GENERATOR_SOURCES = ["yolov4_ref.py", "make_checkpoint.py", "make_testdata.py"]


def source_hash():
    h = hashlib.sha256()
    for path in [os.path.join(HERE, name) for name in GENERATOR_SOURCES]:
        h.update(os.path.basename(path).encode() + b"\0")
        with open(path, "rb") as f:
            h.update(f.read())
        h.update(b"\0")
    return h.hexdigest()


def expected_files():
    files = list(CHECKPOINTS) + ["manifest.json"]
    for d, _, _ in CASES:
        files += [f"{d}/{n}.npy" for n in DUMP_NAMES]
    for name in ref.SAMPLE_IMAGES:
        files += [f"s320/images/{name}/{n}.npy" for n in IMAGE_DUMP_NAMES]
    return files


def up_to_date(out, stamp):
    path = os.path.join(out, "stamp")
    if not os.path.isfile(path):
        return False
    with open(path) as f:
        if f.read().strip() != stamp:
            return False
    return all(os.path.isfile(os.path.join(out, p)) for p in expected_files())


def save(path, array):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    array = np.ascontiguousarray(array, dtype=np.float32)
    np.save(path, array)
    return list(array.shape)


def dump_case(model, out_dir, x):
    with torch.no_grad():
        acts = model.forward_all(torch.from_numpy(x))
    arrays = {"input": x}
    for i in range(1, 6):
        arrays[f"down{i}"] = acts[f"d{i}"].numpy()
    for i, t in enumerate(acts["neck"], 1):
        arrays[f"neck{i}"] = t.numpy()
    for s, t in zip(ref.STRIDES, acts["heads"]):
        arrays[f"head{s}"] = t.numpy()
    return {n: save(os.path.join(out_dir, n + ".npy"), arrays[n]) for n in DUMP_NAMES}, arrays


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="output directory (e.g. the build's testdata)")
    p.add_argument("--shared-data", default=mc.default_shared_data(),
                   help="directory with yolov4.cfg and images/*.jpg (default: $YOLO4_SHARED_DATA "
                        "or ../../../shared/data from this file)")
    p.add_argument("--force", action="store_true", help="regenerate even if the stamp matches")
    p.add_argument("--threads", type=int, default=int(os.environ.get("YOLO4_TORCH_THREADS", "2")))
    args = p.parse_args(argv)

    out = os.path.abspath(args.out)
    stamp = source_hash()
    if not args.force and up_to_date(out, stamp):
        log(f"{out} is up to date (stamp {stamp[:12]}), nothing to do")
        return 0

    torch.set_num_threads(args.threads)
    import cv2
    cv2.setNumThreads(args.threads)
    cfg = os.path.join(args.shared_data, "yolov4.cfg")
    images_dir = os.path.join(args.shared_data, "images")
    for path in [cfg] + [os.path.join(images_dir, n + ".jpg") for n in ref.SAMPLE_IMAGES]:
        if not os.path.isfile(path):
            log(f"ERROR: missing input {path}")
            return 1

    os.makedirs(out, exist_ok=True)
    if os.path.exists(os.path.join(out, "stamp")):
        os.remove(os.path.join(out, "stamp"))
    for d in [c[0] for c in CASES]:
        shutil.rmtree(os.path.join(out, d), ignore_errors=True)
    log(f"generating test data into {out} (torch {torch.__version__}, {args.threads} threads)")

    # 1. checkpoints
    model, info = mc.make_random_model(images_dir)
    mc.check_mapping(cfg, model)
    log("cfg conv table checked against yolov4.cfg and the reference model (110 conv layers)")
    mc.save_pth(model, os.path.join(out, "yolov4_random.pth"))
    mc.save_pth(model, os.path.join(out, "yolov4_random_f16.pth"), torch.float16)
    mc.save_pth(model, os.path.join(out, "yolov4_random_bf16.pth"), torch.bfloat16)
    weights = os.path.join(out, "yolov4_random.weights")
    mc.write_darknet_weights(model, weights)
    # round-trip the model through the saved float32 file, so every dump below is exactly what
    # a loader of yolov4_random.pth computes
    model = ref.load_model(os.path.join(out, "yolov4_random.pth"))

    # 2. per-module dumps
    manifest_cases = {}
    per_image = {}
    for d, size, names in CASES:
        x = ref.load_images(images_dir, names, size)
        shapes, arrays = dump_case(model, os.path.join(out, d), x)
        manifest_cases[d] = {"size": size, "images": [n + ".jpg" for n in names], "shapes": shapes}
        if d == "s320":
            per_image["dog"] = arrays
        log(f"{d}: {', '.join(n + '.jpg' for n in names)} at {size}x{size} -> {len(shapes)} arrays")

    # 3. heads of every sample image at 320 (for the detection tests)
    counts = {}
    for name in ref.SAMPLE_IMAGES:
        if name in per_image:
            arrays = per_image[name]
        else:
            x = ref.load_images(images_dir, [name], 320)
            with torch.no_grad():
                heads = model(torch.from_numpy(x))
            arrays = {"input": x}
            arrays.update({f"head{s}": h.numpy() for s, h in zip(ref.STRIDES, heads)})
        for n in IMAGE_DUMP_NAMES:
            save(os.path.join(out, "s320", "images", name, n + ".npy"), arrays[n])
        boxes, pairs = ref.count_boxes([arrays[f"head{s}"] for s in ref.STRIDES], mc.BOX_THRESH)
        counts[name] = {"boxes": int(boxes[0]), "box_class_pairs": int(pairs[0])}
    log("s320/images: boxes with sigmoid(obj)*sigmoid(cls) > 0.3: "
        + ", ".join(f"{n}={c['boxes']}" for n, c in counts.items()))

    # 4. darknet file through OpenCV's importer
    dog = np.load(os.path.join(out, "s320", "input.npy"))
    cv_heads = mc.opencv_heads(cfg, weights, dog)
    cv_report = {}
    for s, theirs in zip(ref.STRIDES, cv_heads):
        ours = np.load(os.path.join(out, "s320", f"head{s}.npy"))
        cv_report[f"head{s}"] = {"max_abs_diff": float(np.abs(ours - theirs).max()), "pcc": ref.pcc(ours, theirs)}
    log("OpenCV darknet import vs PyTorch (dog, 320): " + ", ".join(
        f"{k}: PCC {v['pcc']:.7f} max|d| {v['max_abs_diff']:.2g}" for k, v in cv_report.items()))
    if min(v["pcc"] for v in cv_report.values()) < 0.9999:
        log("ERROR: the .weights file does not reproduce the PyTorch heads in OpenCV")
        return 1

    manifest = {
        "generator": "tests/python/make_testdata.py",
        "stamp": stamp,
        "torch": torch.__version__,
        "seed": mc.SEED,
        "preprocess": "cv2.imread, BGR->RGB, cv2.resize(size, size, INTER_LINEAR), /255, NCHW float32",
        "checkpoints": {
            "yolov4_random.pth": "float32 state_dict, pytorch-YOLOv4 (yolov4.pth) key names",
            "yolov4_random_f16.pth": "float16 copy (num_batches_tracked stays int64)",
            "yolov4_random_bf16.pth": "bfloat16 copy (num_batches_tracked stays int64)",
            "yolov4_random.weights": "darknet: int32 major=0 minor=2 revision=0, uint64 seen=0, then per "
                                     "conv of yolov4.cfg: biases [scales mean variance] weights, f32 LE",
        },
        "bn_eps": ref.BN_EPS,
        "neck_order": ["neck1: 128 ch, stride 8 (neek.conv20)", "neck2: 512 ch, stride 32 (neek.conv6)",
                       "neck3: 256 ch, stride 16 (neek.conv13)"],
        "head_layout": "255 = 3 anchors x 85 [tx, ty, tw, th, obj, 80 class logits], raw (no sigmoid)",
        "anchors": ref.ANCHORS,
        "anchor_masks": {str(k): list(v) for k, v in ref.ANCHOR_MASKS.items()},
        "objectness_means": {str(k): v for k, v in info["obj_means"].items()},
        "cases": manifest_cases,
        "images_320": {n: {"files": [f"s320/images/{n}/{f}.npy" for f in IMAGE_DUMP_NAMES], **counts[n]}
                       for n in ref.SAMPLE_IMAGES},
        "opencv_darknet_check": cv_report,
        "darknet_convs": [dict(zip(("conv", "layer", "key", "in", "out", "k", "stride", "bn", "activation"), row))
                          for row in mc.DARKNET_CONVS],
    }
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    with open(os.path.join(out, "stamp"), "w") as f:
        f.write(stamp + "\n")
    log(f"done: {len(expected_files())} files in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
