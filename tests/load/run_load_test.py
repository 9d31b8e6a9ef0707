#!/usr/bin/python3
"""yolo4 serve under load: wrk against 127.0.0.1 for a bounded time, every 10th request malformed.

Starts `yolo4 serve` on a free port with the trained Yolo-Fastest-XL, takes the expected detections
of dog.jpg from one request (and checks they are a dog, a bicycle and a car), warms up, notes the
server's RSS, runs the mixed load, then checks:
  - the server is still alive and answers /healthz,
  - every well-formed request that got an answer got 200 with exactly the expected detections,
    and all but the ones cut off when wrk stopped got an answer (no errors, no timeouts),
  - every malformed request got 400, 413 or 415 and nothing else came back,
  - RSS after the run <= RSS after warm-up * RSS_FACTOR + RSS_SLACK_MB,
  - SIGTERM stops it with exit status 0.
"""
import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request

RSS_FACTOR = 1.10
RSS_SLACK_MB = 32


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def model_flags(shared):
    """The trained Yolo-Fastest-XL: real detections at a small cost per request."""
    models = os.path.join(shared, "models")
    return ["--cfg", os.path.join(models, "yolo-fastest-1.1-xl.cfg"),
            "--weights", os.path.join(models, "yolo-fastest-1.1-xl.weights")]


def start_server(yolo4, flags):
    """Starts `yolo4 serve --port 0 FLAGS`; returns (process, port)."""
    server = subprocess.Popen([yolo4, "serve", "--port", "0"] + flags, stdout=subprocess.PIPE,
                              text=True)
    line = server.stdout.readline()
    match = re.search(r"listening on http://127\.0\.0\.1:(\d+)/", line)
    if not match:
        server.kill()
        sys.exit(f"yolo4 serve did not start: {line!r}")
    return server, int(match.group(1))


def detect_once(port, image):
    """The body of one POST /detect of the image file."""
    with open(image, "rb") as f:
        request = urllib.request.Request(f"http://127.0.0.1:{port}/detect", data=f.read(),
                                         headers={"Content-Type": "image/jpeg"})
    return urllib.request.urlopen(request, timeout=60).read().decode()


def detections_text(body):
    """The raw '"detections":[...]' value, as the Lua script extracts it."""
    start = body.index('"detections":') + len('"detections":')
    depth = 0
    for i in range(start, len(body)):
        depth += {"[": 1, "]": -1}.get(body[i], 0)
        if depth == 0:
            return body[start:i + 1]
    raise ValueError("unbalanced detections")


def run_wrk(port, seconds, connections, script, image, expected, mode):
    command = ["wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{seconds}s",
               "--timeout", "20s", "-s", script, f"http://127.0.0.1:{port}/detect",
               "--", image, expected, mode]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    result = re.search(r"^RESULT (.*)$", out, re.M)
    if not result:
        sys.exit(f"wrk printed no RESULT line:\n{out}")
    return {k: float(v) for k, v in (kv.split("=") for kv in result.group(1).split())}, out


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--yolo4", required=True)
    parser.add_argument("--shared-data", required=True)
    parser.add_argument("--out", required=True, help="directory for the expected JSON and logs")
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    here = os.path.dirname(os.path.abspath(__file__))
    script = os.path.join(here, "load.lua")
    image = os.path.join(args.shared_data, "images", "dog.jpg")

    server, port = start_server(args.yolo4, model_flags(args.shared_data) + [
        "--workers", "2", "--threads", "1", "--max-queue", "32", "--max-body", "1"])
    failures = []
    try:
        body = detect_once(port, image)
        classes = {d["class"] for d in json.loads(body)["detections"]}
        if not {"dog", "bicycle", "car"} <= classes:
            sys.exit(f"dog.jpg: expected a dog, a bicycle and a car, got {sorted(classes)}")
        expected = os.path.join(args.out, "expected_detections.json")
        with open(expected, "w") as f:
            f.write(detections_text(body))

        run_wrk(port, 3, args.connections, script, image, expected, "mixed")  # warm-up
        rss_warm = rss_mb(server.pid)
        result, out = run_wrk(port, args.seconds, args.connections, script, image, expected,
                              "mixed")
        rss_after = rss_mb(server.pid)
        print(out)
        print(f"RSS after warm-up {rss_warm:.1f} MB, after the run {rss_after:.1f} MB "
              f"(bound {rss_warm * RSS_FACTOR + RSS_SLACK_MB:.1f} MB)")

        if server.poll() is not None:
            failures.append(f"the server exited with status {server.returncode}")
        health = urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10)
        if health.status != 200:
            failures.append(f"/healthz answered {health.status} after the run")
        r = result
        if r["wrong"]:
            failures.append(f"{r['wrong']:.0f} answers 200 with other detections than expected")
        if r["unexpected"]:
            failures.append(f"{r['unexpected']:.0f} answers with an unexpected status")
        for key in ("connect_errors", "read_errors", "write_errors", "timeouts"):
            if r[key]:
                failures.append(f"wrk saw {r[key]:.0f} {key}")
        # wrk generates the next request of a connection before it stops, and again when it
        # reconnects: up to two per connection are never sent or never waited for.
        unanswered = 2 * args.connections
        if not r["sent_good"] - unanswered <= r["ok"] <= r["sent_good"]:
            failures.append(f"{r['ok']:.0f} good answers for {r['sent_good']:.0f} good requests")
        if not r["sent_bad"] - unanswered <= r["rejected"] <= r["sent_bad"]:
            failures.append(f"{r['rejected']:.0f} refusals for {r['sent_bad']:.0f} bad requests")
        if r["ok"] < 20:
            failures.append(f"only {r['ok']:.0f} requests answered in {args.seconds} s")
        if rss_after > rss_warm * RSS_FACTOR + RSS_SLACK_MB:
            failures.append(f"RSS grew from {rss_warm:.1f} MB to {rss_after:.1f} MB")
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            status = server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            status = "killed after 60 s"
    if status != 0:
        failures.append(f"after SIGTERM the server exited with {status}")
    for failure in failures:
        print("FAIL:", failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
