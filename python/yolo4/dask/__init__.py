"""yolo4.dask: the same detection over a Dask distributed cluster.

    from distributed import Client
    import yolo4.dask
    client = Client("tcp://scheduler:8786")          # or Client(LocalCluster(...))
    records = yolo4.dask.detect("images/*.jpg", client, weights="model.weights", cfg="model.cfg")
    summary = yolo4.dask.write_jsonl(records, "results.jsonl")

Each worker process loads its Detector once, when the job registers a worker plugin (workers
that join later, or that the nanny restarts, load it when they start); tasks then reuse it. The
images, weights, cfg and names are read by the workers at the paths given, so on a cluster of
several machines they must be on a file system every worker sees under the same path.

Records, one per image (the objects `yolo4 detect --json` writes, plus "error"):
    {"image": path, "width": w, "height": h,
     "detections": [{"class_id": 16, "class": "dog", "score": 0.95, "box": [x1, y1, x2, y2]}],
     "error": None}
An image that cannot be read or decoded gives {"image": path, "width": None, "height": None,
"detections": [], "error": "<the library's message>"}, and the other images go on.

Command line (a LocalCluster when --scheduler is not given):
    python3 -m yolo4.dask --scheduler tcp://HOST:8786 --images 'dir/*.jpg' --out results.jsonl
"""

from __future__ import annotations

import asyncio
import glob
import hashlib
import json
import os
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any, Optional, Union

import dask.bag
import distributed
from distributed.diagnostics.plugin import WorkerPlugin

import yolo4

__all__ = [
    "COCO_CATEGORY_IDS",
    "coco_detections",
    "coco_image_ids",
    "DetectorPlugin",
    "Summary",
    "detect",
    "expand_images",
    "model_info",
    "to_dataframe",
    "write_coco",
    "write_jsonl",
]

PathLike = Union[str, "os.PathLike[str]"]

# COCO's category ids of the 80 classes, in class_id order (the library's table).
COCO_CATEGORY_IDS = yolo4.COCO_CATEGORY_IDS


# ------------------------------------------------------------------------------------------
# The worker side


class DetectorPlugin(WorkerPlugin):
    """Loads one yolo4.Detector per worker process, when the plugin is registered or the
    worker starts, and runs every image a task of that worker detects.

    threads: when not given, the worker's CPUs divided among its task threads (the CPUs are
    those of one worker per machine; give threads when several workers share a machine)."""

    def __init__(self, detector_options: dict[str, Any]):
        self.detector_options = dict(detector_options)
        self.name = "yolo4-detector-" + _options_key(self.detector_options)
        self.detector: Optional[yolo4.Detector] = None
        self.loads = 0  # Detectors this worker process has created: 1 once set up
        self.images = 0  # images this worker process has detected

    async def setup(self, worker: distributed.Worker) -> None:
        options = dict(self.detector_options)
        if options.get("threads") is None:
            task_threads = getattr(worker, "state", worker).nthreads
            options["threads"] = max(1, len(os.sched_getaffinity(0)) // task_threads)
        self._count_lock = threading.Lock()  # the worker's task threads share the plugin
        # In a thread: loading a large model must not stall the worker's event loop.
        loop = asyncio.get_running_loop()
        self.detector = await loop.run_in_executor(None, lambda: yolo4.Detector(**options))
        self.loads += 1

    def detect(self, path: str) -> dict[str, Any]:
        assert self.detector is not None, "DetectorPlugin.detect before setup"
        with self._count_lock:
            self.images += 1
        try:
            detections, (width, height) = self.detector.detect_with_size(path)
        except yolo4.Error as error:
            return _record(path, None, None, [], str(error))
        return _record(path, width, height, yolo4.to_dicts(detections), None)


def _record(
    image: str, width: Optional[int], height: Optional[int], detections: list, error: Optional[str]
) -> dict[str, Any]:
    return {
        "image": image, "width": width, "height": height, "detections": detections, "error": error
    }


def _options_key(options: dict[str, Any]) -> str:
    text = json.dumps({k: str(v) for k, v in sorted(options.items())})
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _detect_partition(paths: list[str], plugin_name: str) -> list[dict[str, Any]]:
    plugin = distributed.get_worker().plugins[plugin_name]
    return [plugin.detect(path) for path in paths]


# ------------------------------------------------------------------------------------------
# The client side


def expand_images(paths_or_glob: Union[PathLike, Iterable[PathLike]]) -> list[str]:
    """The image paths: a glob pattern (or a plain path), or an iterable of them, each pattern
    expanded in sorted order. A pattern that matches nothing raises FileNotFoundError."""
    patterns = [paths_or_glob] if isinstance(paths_or_glob, (str, os.PathLike)) else paths_or_glob
    paths: list[str] = []
    for pattern in patterns:
        pattern = os.fspath(pattern)
        if glob.has_magic(pattern):
            matches = sorted(glob.glob(pattern))
            if not matches:
                raise FileNotFoundError(f"images: '{pattern}' matches no file")
            paths.extend(matches)
        else:
            paths.append(pattern)  # a missing file becomes that image's error record
    return paths


def detect(
    paths_or_glob: Union[PathLike, Iterable[PathLike]],
    client: Optional[distributed.Client] = None,
    weights: Optional[PathLike] = None,
    *,
    partition_size: Optional[int] = None,
    output: str = "bag",
    **detector_options: Any,
) -> Any:
    """Detection over a Dask cluster: a dask.bag of records (output="bag"), one per image in
    input order, or a dask.dataframe with one row per image (output="dataframe").

    paths_or_glob: a glob pattern, a path, or an iterable of them (see expand_images).
    client: the distributed Client; None: the current one (distributed.get_client()).
    weights and detector_options: as yolo4.Detector takes them (cfg, size, preset, threads,
        names, conf, iou, ...).
    partition_size: images per task; None: about 8 tasks per worker thread.

    Registers a DetectorPlugin, so every worker loads its Detector now (a bad weights file
    raises here), unless every worker has it from an earlier call with the same options; the
    detection itself runs when the collection is computed or written."""
    if output not in ("bag", "dataframe"):
        raise ValueError(f"output '{output}': expected 'bag' or 'dataframe'")
    client = client if client is not None else distributed.get_client()
    paths = expand_images(paths_or_glob)
    plugin = DetectorPlugin(_plugin_options(weights, detector_options))
    # Registering again would load the Detector again on every worker.
    loaded = client.run(lambda dask_worker: plugin.name in dask_worker.plugins).values()
    if not loaded or not all(loaded):
        client.register_worker_plugin(plugin, name=plugin.name)
    if partition_size is None:
        threads = max(1, sum(client.nthreads().values()))
        partition_size = max(1, -(-len(paths) // (8 * threads)))
    records = dask.bag.from_sequence(paths, partition_size=partition_size).map_partitions(
        _detect_partition, plugin.name
    )
    return to_dataframe(records) if output == "dataframe" else records


def model_info(
    client: Optional[distributed.Client] = None,
    weights: Optional[PathLike] = None,
    **detector_options: Any,
) -> dict[str, Any]:
    """The model_info of the Detector that detect() with the same arguments loaded on the
    workers (asked of one worker)."""
    client = client if client is not None else distributed.get_client()
    name = DetectorPlugin(_plugin_options(weights, detector_options)).name

    def info(dask_worker: distributed.Worker) -> Optional[dict[str, Any]]:
        plugin = dask_worker.plugins.get(name)
        return None if plugin is None or plugin.detector is None else plugin.detector.model_info

    for result in client.run(info).values():
        if result is not None:
            return result
    raise ValueError(
        "no worker has loaded this Detector: call yolo4.dask.detect with these options first"
    )


def _plugin_options(
    weights: Optional[PathLike], detector_options: dict[str, Any]
) -> dict[str, Any]:
    options = dict(detector_options, weights=None if weights is None else os.fspath(weights))
    for key in ("cfg", "names"):
        if options.get(key) is not None:
            options[key] = os.fspath(options[key])
    return options


def to_dataframe(records: dask.bag.Bag) -> Any:
    """The records as a dask.dataframe: columns image, width, height (nullable Int64: missing
    for images that failed), detections (a list of dicts per row) and error."""
    import dask.dataframe
    import pandas

    columns = {
        "image": "object", "width": "Int64", "height": "Int64", "detections": "object",
        "error": "object",
    }  # fmt: skip

    def frame(partition: list[dict[str, Any]]) -> pandas.DataFrame:
        data = {name: [record[name] for record in partition] for name in columns}
        return pandas.DataFrame(data).astype(columns)

    meta = pandas.DataFrame({name: pandas.Series(dtype=dtype) for name, dtype in columns.items()})
    parts = [dask.delayed(frame)(part) for part in records.to_delayed()]
    return dask.dataframe.from_delayed(parts, meta=meta, verify_meta=False)


# ------------------------------------------------------------------------------------------
# Writing results


class Summary(dict):
    """What a write_* call did: images, failed, seconds, images_per_second."""


class _Progress:
    """Tasks and images done, rate, ETA and failures on stderr: a redrawn line on a terminal,
    otherwise a line every few seconds. Failures are reported even when progress is off."""

    def __init__(self, tasks: int, enabled: bool, stream: Optional[IO[str]] = None):
        self.tasks, self.enabled = tasks, enabled
        self.stream = stream if stream is not None else sys.stderr
        self.terminal = enabled and self.stream.isatty()
        self.start = self.last_print = time.monotonic()
        self.tasks_done = self.images = self.failed = 0

    def update(self, records: list[dict[str, Any]]) -> None:
        self.tasks_done += 1
        self.images += len(records)
        for record in records:
            if record["error"] is not None:
                self.failed += 1
                self._print(f"yolo4.dask: {record['image']}: {record['error']}".replace("\n", " "))
        now = time.monotonic()
        due = self.terminal or now - self.last_print >= 5 or self.tasks_done == self.tasks
        if self.enabled and due:
            self.last_print = now
            self._print(self.line(now), end="" if self.terminal else "\n")

    def line(self, now: float) -> str:
        seconds = max(now - self.start, 1e-9)
        eta = (self.tasks - self.tasks_done) * seconds / self.tasks_done
        filled = 24 * self.tasks_done // max(self.tasks, 1)
        failed = f"  {self.failed} failed" if self.failed else ""
        return (
            f"[{'#' * filled}{'.' * (24 - filled)}] {self.tasks_done}/{self.tasks} tasks  "
            f"{self.images} images  {self.images / seconds:.1f} images/s  "
            f"ETA {int(eta) // 60}:{int(eta) % 60:02d}{failed}"
        )

    def close(self) -> None:
        if self.terminal:
            self.stream.write("\n")
            self.stream.flush()

    def _print(self, text: str, end: str = "\n") -> None:
        self.stream.write(("\r\x1b[K" if self.terminal else "") + text + end)
        self.stream.flush()


def _results(
    records: dask.bag.Bag, client: Optional[distributed.Client], progress: bool
) -> Iterator[list[dict[str, Any]]]:
    """The computed partitions in input order, while later ones still run; reports progress."""
    client = client if client is not None else distributed.get_client()
    futures = client.compute(records.to_delayed())
    index = {future.key: i for i, future in enumerate(futures)}
    meter = _Progress(len(futures), progress)
    ready: dict[int, list[dict[str, Any]]] = {}
    next_part = 0
    try:
        for future, partition in distributed.as_completed(futures, with_results=True):
            ready[index[future.key]] = partition
            meter.update(partition)
            future.release()
            while next_part in ready:
                yield ready.pop(next_part)
                next_part += 1
    finally:
        meter.close()


def _summarize(images: int, failed: int, start: float) -> Summary:
    seconds = time.monotonic() - start
    rate = images / max(seconds, 1e-9)
    return Summary(images=images, failed=failed, seconds=seconds, images_per_second=rate)


def write_jsonl(
    records: dask.bag.Bag,
    path: PathLike,
    client: Optional[distributed.Client] = None,
    *,
    progress: bool = True,
) -> Summary:
    """Computes the records and writes them as JSON Lines, one record per image in input order,
    as partitions finish (so memory holds only partitions that finished out of order)."""
    start = time.monotonic()
    images = failed = 0
    with open(path, "w", encoding="utf-8") as out:
        for partition in _results(records, client, progress):
            for record in partition:
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
                images += 1
                failed += record["error"] is not None
    return _summarize(images, failed, start)


def coco_image_ids(paths: Iterable[str], annotations: Optional[PathLike] = None) -> dict[str, int]:
    """COCO image ids: from an annotations file's "images" (matched by file name) when given,
    otherwise the file name's number (000000397133.jpg -> 397133). Raises ValueError naming an
    image that has neither."""
    by_name = _ids_by_file_name(annotations)
    return {path: _image_id(path, by_name, annotations) for path in paths}


def _ids_by_file_name(annotations: Optional[PathLike]) -> dict[str, int]:
    if annotations is None:
        return {}
    with open(annotations, encoding="utf-8") as f:
        return {image["file_name"]: int(image["id"]) for image in json.load(f).get("images", [])}


def _image_id(path: str, by_name: dict[str, int], annotations: Optional[PathLike]) -> int:
    name, stem = Path(path).name, Path(path).stem
    if name in by_name:
        return by_name[name]
    if stem.isdigit():
        return int(stem)
    listed = f"{annotations} does not list it" if annotations else "no annotations file given"
    raise ValueError(
        f"{path}: no COCO image id (the file name is not a number and {listed}); "
        "COCO results need the ids of the annotations file"
    )


def coco_detections(record: dict[str, Any], image_id: int, num_classes: int) -> list[dict[str, Any]]:
    """One image's detections in COCO's results format: bbox [x, y, width, height] in the image's
    pixels; category_id is COCO's id for 80-class models, the class_id otherwise."""
    out = []
    for d in record["detections"]:
        x1, y1, x2, y2 = d["box"]
        category = COCO_CATEGORY_IDS[d["class_id"]] if num_classes == 80 else d["class_id"]
        # Rounded as `yolo4 eval --results` writes them: 1/100 pixel, scores to 1e-6.
        bbox = [round(x1, 2), round(y1, 2), round(x2 - x1, 2), round(y2 - y1, 2)]
        score = round(d["score"], 6)
        out.append({"image_id": image_id, "category_id": category, "bbox": bbox, "score": score})
    return out


def write_coco(
    records: dask.bag.Bag,
    path: PathLike,
    client: Optional[distributed.Client] = None,
    *,
    image_ids: Optional[dict[str, int]] = None,
    annotations: Optional[PathLike] = None,
    num_classes: int = 80,
    progress: bool = True,
) -> Summary:
    """Computes the records and writes a COCO results JSON list (what `yolo4 eval --results`
    reads), entries in input order as partitions finish. image_ids maps each path to its id;
    None: coco_image_ids of each record's path (with annotations). Failed images have no
    entries and are counted in the summary."""
    start = time.monotonic()
    if image_ids is None:
        by_name = _ids_by_file_name(annotations)
        image_id = lambda image: _image_id(image, by_name, annotations)  # noqa: E731
    else:
        image_id = image_ids.__getitem__
    images = failed = 0
    with open(path, "w", encoding="utf-8") as out:
        out.write("[")
        separator = "\n"
        for partition in _results(records, client, progress):
            for record in partition:
                images += 1
                failed += record["error"] is not None
                for entry in coco_detections(record, image_id(record["image"]), num_classes):
                    out.write(separator + json.dumps(entry))
                    separator = ",\n"
        out.write("\n]\n")
    return _summarize(images, failed, start)
