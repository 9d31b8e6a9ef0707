#!/usr/bin/python3
"""Soak test of `yolo4 serve`: a fixed number of requests (10,000 after 500 of warm-up) over
keep-alive connections, RSS sampled throughout.

Starts `yolo4 serve` on a free port with a small trained model (Yolo-Fastest-1.1, --size 160, two
sessions), takes the expected detections of a 320x240 dog.jpg from one request, then CONNECTIONS
client threads send the requests, in turn: mostly POST /detect of the image, and every 10th one
malformed (a truncated JPEG, random bytes: 400; a wrong Content-Type: 415; a body over --max-body:
413; a bad query parameter: 400), every 25th a GET /healthz or /metrics. Checks:
  - every request got an answer with exactly its expected status, and every 200 of /detect the
    expected detections,
  - the largest RSS during the run <= RSS after warm-up * RSS_FACTOR + RSS_SLACK_MB,
  - SIGTERM stops the server with exit status 0.
Prints the request rate and the RSS figures. Exits 77 (CTest: skipped) without the shared models.
"""
import argparse
import http.client
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time

import cv2

from rss_sampler import RssSampler, rss_bound, rss_mb
from soak_inputs import soak_inputs

MAX_BODY_MB = 1


def start_server(command):
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    line = server.stdout.readline()
    match = re.search(r"listening on http://127\.0\.0\.1:(\d+)/", line)
    if not match:
        server.kill()
        sys.exit(f"yolo4 serve did not start: {line!r}")
    return server, int(match.group(1))


def request_kinds(image):
    """(name, method, path, body, headers, expected status) of every kind of request sent."""
    rng = random.Random(7)
    noise = bytes(rng.randrange(256) for _ in range(4096))
    jpeg = {"Content-Type": "image/jpeg"}
    good = ("good", "POST", "/detect", image, jpeg, 200)
    bad = [
        ("truncated", "POST", "/detect", image[:len(image) // 2], jpeg, 400),
        ("random", "POST", "/detect", noise, {"Content-Type": "application/octet-stream"}, 400),
        ("wrong type", "POST", "/detect", image, {"Content-Type": "text/plain"}, 415),
        ("too large", "POST", "/detect", b"\xff" * ((MAX_BODY_MB << 20) + 4096), jpeg, 413),
        ("bad parameter", "POST", "/detect?conf=2", image, jpeg, 400),
    ]
    other = [("healthz", "GET", "/healthz", None, {}, 200),
             ("metrics", "GET", "/metrics", None, {}, 200)]
    return good, bad, other


def kind_of(index, good, bad, other):
    if index % 10 == 9:
        return bad[(index // 10) % len(bad)]
    if index % 25 == 12:
        return other[(index // 25) % len(other)]
    return good


class Client(threading.Thread):
    """Sends requests index, index + stride, ... < count over one keep-alive connection
    (reopened when the server closes it, as after a 413), checking each answer."""

    def __init__(self, port, first, stride, count, kinds, expected_detections):
        super().__init__(daemon=True)
        self.port, self.first, self.stride, self.count = port, first, stride, count
        self.kinds, self.expected = kinds, expected_detections
        self.sent = 0
        self.reconnects = 0
        self.failures = []

    def run(self):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        for index in range(self.first, self.count, self.stride):
            name, method, path, body, headers, status = kind_of(index, *self.kinds)
            try:
                connection.request(method, path, body=body, headers=headers)
                response = connection.getresponse()
                data = response.read()
            except (ConnectionError, http.client.HTTPException) as e:
                self.failures.append(f"request {index} ({name}): {type(e).__name__}: {e}")
                connection.close()
                continue
            finally:
                self.sent += 1
            if response.status != status:
                self.failures.append(f"request {index} ({name}): status {response.status}, "
                                     f"expected {status}: {data[:200]!r}")
            elif name == "good" and json.loads(data)["detections"] != self.expected:
                self.failures.append(f"request {index}: other detections than expected")
            if response.will_close:
                self.reconnects += 1
                connection.close()
        connection.close()


def run_clients(port, count, connections, kinds, expected):
    clients = [Client(port, i, connections, count, kinds, expected) for i in range(connections)]
    for c in clients:
        c.start()
    for c in clients:
        c.join()
    failures = [f for c in clients for f in c.failures]
    return sum(c.sent for c in clients), sum(c.reconnects for c in clients), failures


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--yolo4", required=True)
    parser.add_argument("--shared-data", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--requests", type=int, default=10000)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--connections", type=int, default=4)
    args = parser.parse_args()
    inputs = soak_inputs(args.shared_data)
    if inputs is None:
        return 77  # CTest's skip code
    cfg, weights, image_path = inputs
    os.makedirs(args.out, exist_ok=True)
    image = cv2.imencode(".jpg", cv2.resize(cv2.imread(image_path), (320, 240)))[1].tobytes()

    command = [args.yolo4, "serve", "--port", "0", "--cfg", cfg, "--weights", weights,
               "--size", "160", "--workers", "2", "--threads", "1", "--max-queue", "32",
               "--max-body", str(MAX_BODY_MB)]
    print(" ".join(command))
    server, port = start_server(command)
    failures = []
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        connection.request("POST", "/detect", body=image, headers={"Content-Type": "image/jpeg"})
        expected = json.loads(connection.getresponse().read())["detections"]
        connection.close()
        if not expected:
            sys.exit("the 320x240 dog.jpg gave no detections: nothing to compare answers with")
        kinds = request_kinds(image)

        _, _, warmup_failures = run_clients(port, args.warmup, args.connections, kinds, expected)
        failures += warmup_failures
        warm = rss_mb(server.pid)
        sampler = RssSampler(server.pid)
        start = time.monotonic()
        sent, reconnects, run_failures = run_clients(port, args.requests, args.connections,
                                                     kinds, expected)
        seconds = time.monotonic() - start
        samples = sampler.stop()
        failures += run_failures
        end = rss_mb(server.pid)
        peak = max(rss for _, rss in samples)
        print(f"{sent} requests in {seconds:.1f} s ({sent / seconds:.0f} requests/s, "
              f"{args.connections} connections, {reconnects} reopened after the server closed "
              f"them); RSS: after warm-up {warm:.1f} MB, largest {peak:.1f} MB, "
              f"at the end {end:.1f} MB (bound {rss_bound(warm):.1f} MB, {len(samples)} samples)")
        if sent != args.requests:
            failures.append(f"{sent} requests sent, expected {args.requests}")
        if peak > rss_bound(warm):
            failures.append(f"RSS grew from {warm:.1f} MB to {peak:.1f} MB")
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            status = server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            status = "killed after 60 s"
    if status != 0:
        failures.append(f"after SIGTERM the server exited with {status}")
    for failure in failures[:20]:
        print("FAIL:", failure)
    if len(failures) > 20:
        print(f"FAIL: ... {len(failures) - 20} more")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
