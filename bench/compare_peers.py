#!/usr/bin/python3
"""Times one peer engine on YOLOv4 and prints one JSON object (the last line of stdout).

Run by bench/compare, one peer per process so thread settings cannot leak between engines.
Each peer times the network up to the raw head logits (the three 255-channel convs), the
same work `yolo4 bench` times: no YOLO decoding, no NMS.

  opencv      cv2.dnn.readNetFromDarknet(cfg, weights), backend OPENCV, target CPU,
              cv2.setNumThreads(threads); forwards conv_138, conv_149, conv_160.
  torch-fp32  tests/python/yolov4_ref.py's Yolov4 loaded with the .pth, torch.set_num_threads,
              torch.inference_mode().
  torch-bf16  the same under torch.autocast('cpu', dtype=torch.bfloat16).

Usage:
  /usr/bin/python3 bench/compare_peers.py PEER --size 320 --threads 2 --runs 20 --warmup 3
      [--cfg yolov4.cfg --weights x.weights] [--pth x.pth] [--channels-last] [--native-mish] [--jit]

On failure prints {"error": "..."} and exits 1; bench/compare shows the message in its table.
"""

import argparse
import json
import os
import statistics
import sys
import time
import traceback

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def head_conv_layers(cfg):
    """Darknet layer index of the conv feeding each [yolo] section of any cfg (OpenCV names it
    conv_<index>; YOLOv4: 138, 149, 160)."""
    layers = []
    with open(cfg) as f:
        sections = [line.strip() for line in f if line.strip().startswith("[")]
    for index, section in enumerate(sections[1:]):  # after [net]
        if section == "[yolo]":
            layers.append(index - 1)
    return layers
PEERS = ("opencv", "torch-fp32", "torch-bf16")


class PeerError(Exception):
    """A peer that cannot run here; the message goes into the table as is."""


def random_input(size, seed=7):
    import numpy as np
    rng = np.random.default_rng(seed)
    return rng.random((1, 3, size, size), dtype=np.float32)


def time_loop(fn, runs, warmup):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return times


def run_opencv(args):
    try:
        import cv2
    except ImportError as e:
        raise PeerError(f"cannot import cv2 ({e}); install python3-opencv") from e
    if not hasattr(cv2, "dnn") or not hasattr(cv2.dnn, "readNetFromDarknet"):
        raise PeerError(f"cv2 {cv2.__version__} has no dnn module (OpenCV built without dnn)")
    for what, path in (("cfg", args.cfg), ("weights", args.weights)):
        if not path or not os.path.isfile(path):
            raise PeerError(f"darknet {what} file not found: {path}")
    cv2.setNumThreads(args.threads)
    t0 = time.perf_counter()
    net = cv2.dnn.readNetFromDarknet(args.cfg, args.weights)
    net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
    net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
    names = list(net.getLayerNames())
    outs = [f"conv_{i}" for i in head_conv_layers(args.cfg)]
    missing = [o for o in outs if o not in names]
    if missing or not outs:
        raise PeerError(f"OpenCV net from {args.cfg} has no head layers {missing or outs}")
    blob = random_input(args.size)
    net.setInput(blob)

    def forward():
        net.forward(outs)

    forward()  # first run: OpenCV allocates and initialises here
    startup_ms = (time.perf_counter() - t0) * 1e3
    times = time_loop(forward, args.runs, args.warmup)
    return times, startup_ms, {
        "engine": "opencv", "version": cv2.__version__, "threads_set": args.threads,
        "threads_reported": cv2.getNumThreads(), "backend": "DNN_BACKEND_OPENCV",
        "target": "DNN_TARGET_CPU", "outputs": outs,
        "cpu_features": cv2.getCPUFeaturesLine(),  # a dispatched feature turned off ends in "?"
    }


def torch_cpu_capability():
    """ATen's kernel ISA, as torch's build summary reports it (e.g. "AVX2")."""
    import torch
    for line in torch.__config__.show().splitlines():
        if "CPU capability usage:" in line:
            return line.split(":", 1)[1].strip()
    return "unknown"


def run_torch(args, bf16):
    try:
        import torch
    except ImportError as e:
        raise PeerError(f"cannot import torch ({e}); use Debian's /usr/bin/python3 with python3-torch") from e
    if not args.pth or not os.path.isfile(args.pth):
        raise PeerError(f"PyTorch checkpoint not found: {args.pth}")
    sys.path.insert(0, os.path.join(REPO, "tests", "python"))
    try:
        import yolov4_ref as ref
    except Exception as e:  # the reference is someone else's and may be mid-edit
        raise PeerError(f"cannot import tests/python/yolov4_ref.py: {type(e).__name__}: {e}") from e
    if args.native_mish:
        # Mish.forward looks the global up at call time. torch 1.13 has no bf16 CPU mish kernel,
        # so bf16 inputs go through fp32 (what autocast does for an fp32-only op).
        def native_mish(x):
            if x.dtype == torch.bfloat16:
                return torch.nn.functional.mish(x.float()).to(torch.bfloat16)
            return torch.nn.functional.mish(x)
        ref.mish = native_mish
    torch.set_num_threads(args.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    if bf16 and not torch.backends.mkldnn.is_available():
        raise PeerError("torch has no oneDNN (mkldnn): no bf16 CPU convolutions")
    t0 = time.perf_counter()
    try:
        model = ref.load_model(args.pth)
    except Exception as e:
        raise PeerError(f"cannot load {args.pth} into yolov4_ref: {type(e).__name__}: {e}") from e
    model.eval()
    x = torch.from_numpy(random_input(args.size))
    fmt = torch.channels_last if args.channels_last else torch.contiguous_format
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)

    if args.jit:
        # TorchScript: trace (under autocast for bf16, so the casts are recorded), freeze, and
        # optimize_for_inference (folds BN into the convs, pre-packs oneDNN weights).
        import warnings
        try:
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore", torch.jit.TracerWarning)
                if bf16:
                    with torch.autocast("cpu", dtype=torch.bfloat16):
                        traced = torch.jit.trace(model, x, check_trace=False)
                else:
                    traced = torch.jit.trace(model, x, check_trace=False)
                model = torch.jit.optimize_for_inference(torch.jit.freeze(traced.eval()))
        except Exception as e:
            raise PeerError(f"TorchScript trace/freeze failed: {type(e).__name__}: {e}") from e

    def forward():
        with torch.inference_mode():
            if bf16 and not args.jit:
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    model(x)
            else:
                model(x)

    forward()
    startup_ms = (time.perf_counter() - t0) * 1e3
    times = time_loop(forward, args.runs, args.warmup)
    return times, startup_ms, {
        "engine": "torch", "version": torch.__version__, "threads_set": args.threads,
        "threads_reported": torch.get_num_threads(), "autocast": "bfloat16" if bf16 else None,
        "mkldnn": torch.backends.mkldnn.is_available(), "memory_format": str(fmt),
        "cpu_capability": torch_cpu_capability(),
        "onednn_max_cpu_isa": os.environ.get("ONEDNN_MAX_CPU_ISA", "default"),
        "jit": "trace + freeze + optimize_for_inference" if args.jit else None,
        "mish": "F.mish" if args.native_mish else "yolov4_ref.mish (x * tanh(softplus(x)))",
    }


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("peer", choices=PEERS)
    p.add_argument("--size", type=int, default=320)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--cfg", help="darknet yolov4.cfg (opencv)")
    p.add_argument("--weights", help="darknet .weights (opencv)")
    p.add_argument("--pth", help="float32 state_dict (torch)")
    p.add_argument("--channels-last", action="store_true", help="torch: NHWC model and input")
    p.add_argument("--native-mish", action="store_true", help="torch: use F.mish instead of the reference's")
    p.add_argument("--jit", action="store_true",
                   help="torch: TorchScript trace + freeze + optimize_for_inference (BN folded)")
    args = p.parse_args(argv)
    if args.size % 32 or args.size <= 0:
        p.error(f"--size {args.size} is not a positive multiple of 32")
    if args.runs < 1 or args.warmup < 0 or args.threads < 1:
        p.error("need --runs >= 1, --warmup >= 0, --threads >= 1")
    try:
        if args.peer == "opencv":
            times, startup_ms, info = run_opencv(args)
        else:
            times, startup_ms, info = run_torch(args, bf16=args.peer == "torch-bf16")
    except PeerError as e:
        print(json.dumps({"error": str(e)}), flush=True)
        return 1
    except Exception as e:
        traceback.print_exc()
        print(json.dumps({"error": f"{type(e).__name__}: {e}"}), flush=True)
        return 1
    result = {"median_ms": statistics.median(times), "min_ms": min(times), "size": args.size,
              "threads": args.threads, "runs": args.runs, "warmup": args.warmup,
              "startup_ms": startup_ms, "times_ms": times}
    result.update(info)
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
