"""Samples a process's resident set size (VmRSS in /proc/PID/status) on a background thread."""
import threading
import time

# The bound both soak tests apply: RSS after warm-up may grow by 10 % plus 32 MB (allocator
# caches, OpenCV's and FFmpeg's buffers settle at their own pace); a leak of a few KB per frame or
# request over thousands of them exceeds it.
RSS_FACTOR = 1.10
RSS_SLACK_MB = 32


def rss_mb(pid):
    """VmRSS of pid in MB, or None once the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except (FileNotFoundError, ProcessLookupError):
        pass
    return None


def rss_bound(warm_mb):
    return warm_mb * RSS_FACTOR + RSS_SLACK_MB


class RssSampler:
    """Samples (seconds since start, RSS MB) every `interval` seconds until stop()."""

    def __init__(self, pid, interval=0.05):
        self.pid = pid
        self.interval = interval
        self.samples = []
        self._stop = threading.Event()
        self._start = time.monotonic()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            rss = rss_mb(self.pid)
            if rss is None:
                return
            self.samples.append((time.monotonic() - self._start, rss))
            self._stop.wait(self.interval)

    def stop(self):
        self._stop.set()
        self._thread.join()
        return self.samples
