#!/usr/bin/python3
"""Soak test of `yolo4 detect` on a long video: 2,000 generated frames, RSS sampled throughout.

Writes a 160x120 MJPG .avi of FRAMES frames (dog.jpg scaled down, panned a pixel per frame, with
the frame number drawn on it), runs `yolo4 detect` on it with a small trained model
(Yolo-Fastest-1.1, --size 160) writing the JSON list and the annotated video, and checks:
  - exit status 0, one JSON object per frame with frame indices 0..FRAMES-1 in order, a readable
    annotated video with FRAMES frames,
  - the largest RSS after warm-up (the first WARMUP_SHARE of the run's duration) <= the largest
    RSS during warm-up * RSS_FACTOR + RSS_SLACK_MB.
Prints the frame rate and the RSS figures. Exits 77 (CTest: skipped) without the shared models.
"""
import argparse
import json
import os
import subprocess
import sys
import time

import cv2
import numpy as np

from rss_sampler import RssSampler, rss_bound
from soak_inputs import soak_inputs

WIDTH, HEIGHT = 160, 120
WARMUP_SHARE = 0.2


def write_video(path, image_path, frames):
    image = cv2.imread(image_path)
    if image is None:
        sys.exit(f"cannot read {image_path}")
    scene = cv2.resize(image, (WIDTH * 2, HEIGHT))  # panned across, a pixel per frame
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"MJPG"), 25, (WIDTH, HEIGHT))
    if not writer.isOpened():
        sys.exit(f"OpenCV cannot write {path}")
    for i in range(frames):
        x = i % WIDTH
        frame = np.ascontiguousarray(scene[:, x:x + WIDTH])
        cv2.putText(frame, str(i), (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1)
        writer.write(frame)
    writer.release()


def video_frames(path):
    capture = cv2.VideoCapture(path)
    count = 0
    while capture.read()[0]:
        count += 1
    return count


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--yolo4", required=True)
    parser.add_argument("--shared-data", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--frames", type=int, default=2000)
    args = parser.parse_args()
    inputs = soak_inputs(args.shared_data)
    if inputs is None:
        return 77  # CTest's skip code
    cfg, weights, image = inputs
    os.makedirs(args.out, exist_ok=True)
    video = os.path.join(args.out, "soak.avi")
    write_video(video, image, args.frames)
    annotated_dir = os.path.join(args.out, "annotated")
    json_path = os.path.join(args.out, "detections.json")

    command = [args.yolo4, "detect", "--cfg", cfg, "--weights", weights, "--size", "160",
               "--threads", "1", "--quiet", "--json", json_path, "--out", annotated_dir, video]
    print(" ".join(command))
    start = time.monotonic()
    process = subprocess.Popen(command)
    sampler = RssSampler(process.pid)
    status = process.wait(timeout=600)
    seconds = time.monotonic() - start
    samples = sampler.stop()

    failures = []
    if status != 0:
        failures.append(f"yolo4 detect exited with status {status}")
    if len(samples) < 10:
        failures.append(f"only {len(samples)} RSS samples: the run was too short to judge")
    else:
        warmup_end = samples[-1][0] * WARMUP_SHARE
        warm = max(rss for t, rss in samples if t <= warmup_end)
        after = [rss for t, rss in samples if t > warmup_end]
        peak, end = max(after), after[-1]
        print(f"{args.frames} frames in {seconds:.1f} s ({args.frames / seconds:.0f} frames/s, "
              f"process start and model load included); RSS: warm-up {warm:.1f} MB, "
              f"largest after warm-up {peak:.1f} MB, last {end:.1f} MB "
              f"(bound {rss_bound(warm):.1f} MB, {len(samples)} samples)")
        if peak > rss_bound(warm):
            failures.append(f"RSS grew from {warm:.1f} MB to {peak:.1f} MB after warm-up")
    if status == 0:
        with open(json_path) as f:
            results = json.load(f)
        indices = [r.get("frame") for r in results]
        if indices != list(range(args.frames)):
            failures.append(f"{len(results)} JSON objects, expected frames 0..{args.frames - 1}")
        written = video_frames(os.path.join(annotated_dir, "soak.avi"))
        if written != args.frames:
            failures.append(f"the annotated video has {written} frames, expected {args.frames}")
    for failure in failures:
        print("FAIL:", failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
