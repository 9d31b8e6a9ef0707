#!/usr/bin/python3
"""Requests/s and p50/p99 latency of `yolo4 serve` against concurrency, with wrk.

Starts the server with the given flags on a free port, warms it up, then for each concurrency runs
wrk (POST /detect with one image, keep-alive) --runs times and prints the medians as a Markdown
table row per concurrency. Every answer is checked against the first one (tests/load/load.lua,
clean mode). Waits while a compiler runs (pgrep -x cc1plus), so that numbers are not taken on a
busy machine.

  bench/serve_throughput.py --yolo4 build/yolo4 --image ../shared/data/images/dog.jpg \\
      --runs 3 --seconds 10 -- --cfg M.cfg --weights M.weights --workers 2 --threads 1
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "load"))
import run_load_test as load  # noqa: E402  (server start, wrk run, expected detections)


def wait_for_idle_machine():
    while subprocess.run(["pgrep", "-x", "cc1plus"], capture_output=True).returncode == 0:
        print("  (a compiler is running; waiting)", file=sys.stderr)
        time.sleep(20)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--yolo4", required=True)
    parser.add_argument("--image", required=True)
    parser.add_argument("--concurrency", default="1,2,4,8")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("serve_flags", nargs=argparse.REMAINDER,
                        help="after --: flags for yolo4 serve (model, --workers, --threads)")
    args = parser.parse_args()
    flags = [f for f in args.serve_flags if f != "--"]
    script = os.path.join(os.path.dirname(load.__file__), "load.lua")

    server, port = load.start_server(args.yolo4, flags + ["--max-queue", "64"])
    try:
        with tempfile.TemporaryDirectory() as tmp:
            expected = os.path.join(tmp, "expected.json")
            with open(expected, "w") as f:
                f.write(load.detections_text(load.detect_once(port, args.image)))
            wait_for_idle_machine()
            load.run_wrk(port, 3, 2, script, args.image, expected, "clean")  # warm-up
            print("| concurrency | requests/s | p50 ms | p99 ms | runs |")
            print("| ---: | ---: | ---: | ---: | ---: |")
            for c in (int(v) for v in args.concurrency.split(",")):
                rows = []
                for _ in range(args.runs):
                    wait_for_idle_machine()
                    r, _ = load.run_wrk(port, args.seconds, c, script, args.image, expected,
                                        "clean")
                    if r["wrong"] or r["unexpected"] or r["read_errors"] or r["timeouts"]:
                        sys.exit(f"bad answers at concurrency {c}: {r}")
                    rows.append((r["ok"] / r["seconds"], r["p50_ms"], r["p99_ms"]))
                rps, p50, p99 = (statistics.median(col) for col in zip(*rows))
                print(f"| {c} | {rps:.1f} | {p50:.1f} | {p99:.1f} | {args.runs} |", flush=True)
    finally:
        server.terminate()
        server.wait(timeout=60)


if __name__ == "__main__":
    main()
