"""python3 -m yolo4.dask: detection over a Dask cluster, results to JSON Lines or COCO JSON.

    python3 -m yolo4.dask --scheduler tcp://HOST:8786 --images 'dir/*.jpg' --out results.jsonl
    python3 -m yolo4.dask --images 'val2017/*.jpg' --weights W --cfg C --format coco --out r.json

Without --scheduler it starts a LocalCluster of worker processes on this machine. Exit status:
0 every image was detected, 1 an image failed (each is reported on stderr and the others still
run) or another error.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Optional

import distributed

import yolo4
import yolo4.dask


def parse_args(argv: Optional[list[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python3 -m yolo4.dask",
        description="Detects objects in images on a Dask distributed cluster; one record per "
        "image. Workers read the images and the model at the paths given.",
    )
    p.add_argument("--scheduler",
                   help="scheduler address, e.g. tcp://HOST:8786 (default: start a LocalCluster)")
    p.add_argument("--images", action="append", required=True, metavar="GLOB",
                   help="image files: a glob pattern (quote it) or a path; repeatable")
    p.add_argument("--out", required=True, help="the results file")
    p.add_argument("--format", choices=("jsonl", "coco"), default="jsonl",
                   help="jsonl: one record per image (default); coco: COCO results JSON, "
                   "as yolo4 eval reads")
    p.add_argument("--annotations",
                   help="COCO annotations whose image ids --format coco uses "
                   "(default: the number in each file name)")
    p.add_argument("--weights",
                   help="darknet .weights, a YOLOv4 .pth, or 'auto' (the official yolov4.weights)")
    p.add_argument("--cfg", help="darknet .cfg (default: the embedded yolov4.cfg)")
    p.add_argument("--names", help="class names, one per line (default: COCO's for 80 classes)")
    p.add_argument("--size", type=int, default=320, help="network input size (default 320)")
    p.add_argument("--preset", default="auto",
                   help="fp32, bf16, report, fast or auto (default: auto, as yolo4 detect)")
    p.add_argument("--conf", type=float, help="score threshold (default: the library's)")
    p.add_argument("--iou", type=float, help="NMS IoU threshold (default: the library's)")
    p.add_argument("--max-det", type=int, help="most boxes per image")
    p.add_argument("--letterbox", action="store_true", default=None,
                   help="keep the aspect ratio (default: as the cfg says)")
    p.add_argument("--threads", type=int,
                   help="inference threads per worker thread "
                   "(default: the CPUs divided among the worker threads)")
    p.add_argument("--workers", type=int,
                   help="LocalCluster worker processes (default: one per CPU)")
    p.add_argument("--partition-size", type=int,
                   help="images per task (default: about 8 tasks per worker thread)")
    p.add_argument("--quiet", action="store_true", help="no progress; failures are still reported")
    return p.parse_args(argv)


def local_cluster(workers: Optional[int]) -> distributed.LocalCluster:
    cpus = len(os.sched_getaffinity(0))
    return distributed.LocalCluster(
        n_workers=workers or cpus, threads_per_worker=1, processes=True, dashboard_address=":0"
    )


def run(args: argparse.Namespace, client: distributed.Client) -> int:
    paths = yolo4.dask.expand_images(args.images)
    image_ids = (
        yolo4.dask.coco_image_ids(paths, args.annotations) if args.format == "coco" else None
    )
    options = {
        "cfg": args.cfg, "names": args.names, "size": args.size, "preset": args.preset,
        "conf": args.conf, "iou": args.iou, "max_det": args.max_det, "letterbox": args.letterbox,
        "threads": args.threads,
    }
    if args.threads is None and args.scheduler is None:
        # Every worker of the LocalCluster shares this machine's CPUs.
        total = max(1, sum(client.nthreads().values()))
        options["threads"] = max(1, len(os.sched_getaffinity(0)) // total)
    options = {k: v for k, v in options.items() if v is not None}
    records = yolo4.dask.detect(
        paths, client, weights=args.weights, partition_size=args.partition_size, **options
    )
    progress = not args.quiet
    if args.format == "coco":
        classes = yolo4.dask.model_info(client, args.weights, **options)["classes"]
        summary = yolo4.dask.write_coco(
            records, args.out, client, image_ids=image_ids, num_classes=classes, progress=progress
        )
    else:
        summary = yolo4.dask.write_jsonl(records, args.out, client, progress=progress)
    if not args.quiet:
        print(
            f"yolo4.dask: {summary['images']} images, {summary['failed']} failed, "
            f"{summary['seconds']:.1f} s ({summary['images_per_second']:.1f} images/s) "
            f"-> {args.out}",
            file=sys.stderr,
        )
    return 1 if summary["failed"] else 0


def main(argv: Optional[list[str]] = None) -> int:
    args = parse_args(argv)
    try:
        if args.scheduler:
            with distributed.Client(args.scheduler) as client:
                return run(args, client)
        with local_cluster(args.workers) as cluster, distributed.Client(cluster) as client:
            return run(args, client)
    except (yolo4.Error, ValueError, FileNotFoundError, OSError) as error:
        print(f"yolo4.dask: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
