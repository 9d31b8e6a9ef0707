"""yolo4.dask on a LocalCluster of 2 worker processes: one record per image equal to the
in-process Detector's, a corrupt file reported while the rest go on, one Detector load per
worker process, JSON Lines, COCO results and the dataframe, the command line, and a worker
killed mid-job without an image lost or duplicated."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import distributed
import pytest

import yolo4
import yolo4.dask

# Detector settings of every test here: one inference thread per worker process.
OPTIONS = {"preset": "fp32", "threads": 1}


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    ) as cluster, distributed.Client(cluster) as client:
        client.wait_for_workers(2, timeout=60)
        yield client


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory, sample_images):
    """The six sample images and a corrupt JPEG."""
    directory = tmp_path_factory.mktemp("images")
    for path in sample_images:
        (directory / Path(path).name).symlink_to(path)
    (directory / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a JPEG")
    return directory


@pytest.fixture(scope="module")
def expected(model_files, sample_images):
    """Records as the in-process Detector gives them, by file name."""
    detector = yolo4.Detector(model_files["weights"], cfg=model_files["cfg"], **OPTIONS)
    out = {}
    for path in sample_images:
        found, (width, height) = detector.detect_with_size(path)
        out[Path(path).name] = {"width": width, "height": height, "detections": yolo4.to_dicts(found)}
    return out


def check_records(records, image_dir, expected):
    names = sorted(p.name for p in image_dir.iterdir())
    assert [Path(r["image"]).name for r in records] == names  # input order, each once
    for record in records:
        name = Path(record["image"]).name
        if name == "corrupt.jpg":
            assert record["error"].startswith(f"image {record['image']}: ")
            assert record["detections"] == [] and record["width"] is None
        else:
            assert record["error"] is None
            assert {k: record[k] for k in ("width", "height", "detections")} == expected[name]


def plugin_counts(client, model_files):
    name = yolo4.dask.DetectorPlugin(
        yolo4.dask._plugin_options(model_files["weights"], dict(OPTIONS, cfg=model_files["cfg"]))
    ).name

    def counts(dask_worker):
        plugin = dask_worker.plugins[name]
        return plugin.loads, plugin.images

    return client.run(counts)


def test_records_and_one_load_per_worker(client, model_files, image_dir, expected):
    for _ in range(3):
        records = yolo4.dask.detect(
            str(image_dir / "*.jpg"), client, weights=model_files["weights"],
            cfg=model_files["cfg"], partition_size=1, **OPTIONS,
        )  # fmt: skip
        assert records.npartitions == 7
        check_records(records.compute(), image_dir, expected)
    # Every worker loaded the Detector once, and 3 jobs of 7 tasks reused it.
    counts = plugin_counts(client, model_files)
    assert len(counts) == 2
    assert [loads for loads, _ in counts.values()] == [1, 1]
    assert sum(images for _, images in counts.values()) == 21
    info = yolo4.dask.model_info(client, model_files["weights"], cfg=model_files["cfg"], **OPTIONS)
    assert info["classes"] == 80 and info["threads"] == 1


def test_json_lines_coco_and_dataframe(client, model_files, image_dir, expected, tmp_path, capfd):
    records = yolo4.dask.detect(
        [image_dir / "*.jpg"], client, weights=model_files["weights"], cfg=model_files["cfg"], **OPTIONS
    )
    jsonl = tmp_path / "results.jsonl"
    summary = yolo4.dask.write_jsonl(records, jsonl, client)
    assert summary["images"] == 7 and summary["failed"] == 1
    written = [json.loads(line) for line in jsonl.read_text().splitlines()]
    check_records(written, image_dir, expected)
    err = capfd.readouterr().err
    assert f"yolo4.dask: {image_dir / 'corrupt.jpg'}: image {image_dir / 'corrupt.jpg'}:" in err
    assert "7 images" in err  # the progress line

    # COCO results: ids from an annotations file, COCO's category ids, [x, y, w, h] boxes.
    names = sorted(p.name for p in image_dir.iterdir())
    annotations = tmp_path / "annotations.json"
    listed = [{"id": 100 + i, "file_name": name} for i, name in enumerate(names)]
    annotations.write_text(json.dumps({"images": listed}))
    coco = tmp_path / "results.json"
    summary = yolo4.dask.write_coco(records, coco, client, annotations=annotations, progress=False)
    assert summary["failed"] == 1
    entries = json.loads(coco.read_text())
    wanted = []
    for i, name in enumerate(names):
        for d in expected.get(name, {"detections": []})["detections"]:
            x1, y1, x2, y2 = d["box"]
            category = yolo4.dask.COCO_CATEGORY_IDS[d["class_id"]]
            wanted.append((100 + i, category, d["score"], [x1, y1, x2 - x1, y2 - y1]))
    assert len(entries) == len(wanted) > 10
    for entry, (image_id, category, score, bbox) in zip(entries, wanted):
        assert (entry["image_id"], entry["category_id"]) == (image_id, category)
        assert entry["score"] == pytest.approx(score, abs=1e-6)
        assert entry["bbox"] == pytest.approx(bbox, abs=0.011)
    assert {e["category_id"] for e in entries} >= {2, 3, 18}  # bicycle, car, dog on dog.jpg
    scored_by_yolo4_eval(annotations, listed, wanted, coco)
    no_id = r"corrupt.jpg: no COCO image id \(the file name is not a number and no annotations"
    with pytest.raises(ValueError, match=no_id):
        yolo4.dask.write_coco(records, coco, client, progress=False)

    frame = yolo4.dask.detect(
        str(image_dir / "*.jpg"), client, weights=model_files["weights"], cfg=model_files["cfg"],
        output="dataframe", **OPTIONS,
    ).compute()  # fmt: skip
    assert len(frame) == 7 and list(frame.columns) == ["image", "width", "height", "detections", "error"]
    assert str(frame["width"].dtype) == "Int64" and frame["width"].isna().sum() == 1
    assert frame["error"].notna().sum() == 1


def scored_by_yolo4_eval(annotations, images, wanted, results):
    """`yolo4 eval` reads the results file; scored against ground truth made of the in-process
    detections themselves, every number it reports for all areas is 1."""
    binary = os.environ.get("YOLO4_BIN")
    if not binary:
        return  # CTest sets it
    truth = [
        {"id": i + 1, "image_id": image_id, "category_id": category, "bbox": bbox,
         "area": bbox[2] * bbox[3], "iscrowd": 0}
        for i, (image_id, category, _, bbox) in enumerate(wanted)
    ]  # fmt: skip
    categories = [{"id": c, "name": f"c{c}"} for c in yolo4.dask.COCO_CATEGORY_IDS]
    annotations.write_text(
        json.dumps({"images": images, "categories": categories, "annotations": truth})
    )
    run = subprocess.run(
        [binary, "eval", "--annotations", str(annotations), "--results", str(results)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    summary = [line for line in run.stdout.splitlines() if "area=   all" in line]
    assert len(summary) >= 4 and all(line.endswith("= 1.000") for line in summary[:3]), run.stdout


def test_command_line(model_files, image_dir, expected, tmp_path):
    out = tmp_path / "cli.jsonl"
    command = [
        sys.executable, "-m", "yolo4.dask", "--images", str(image_dir / "*.jpg"), "--out", str(out),
        "--workers", "2", "--weights", model_files["weights"], "--cfg", model_files["cfg"],
        "--preset", OPTIONS["preset"], "--threads", "1",
    ]  # fmt: skip
    run = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert run.returncode == 1, run.stderr  # one image failed
    assert "corrupt.jpg" in run.stderr and "7 images, 1 failed" in run.stderr
    check_records([json.loads(line) for line in out.read_text().splitlines()], image_dir, expected)


def test_a_worker_killed_mid_job(model_files, sample_images, expected, tmp_path):
    """300 images over 2 workers; one worker process is killed after its first images. The nanny
    restarts it, the new process loads its Detector, and every image is written exactly once."""
    directory = tmp_path / "many"
    directory.mkdir()
    for i in range(300):
        source = sample_images[i % len(sample_images)]
        (directory / f"{i:03d}_{Path(source).name}").symlink_to(source)
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    ) as cluster, distributed.Client(cluster) as client:
        client.wait_for_workers(2, timeout=60)
        records = yolo4.dask.detect(
            str(directory / "*.jpg"), client, weights=model_files["weights"],
            cfg=model_files["cfg"], partition_size=2, **OPTIONS,
        )  # fmt: skip
        pids = client.run(os.getpid)
        done = threading.Event()
        killed = {}

        def kill_one_worker():
            while not done.is_set():
                counts = plugin_counts(client, model_files)
                busy = [address for address, (_, images) in counts.items() if images >= 4]
                if busy:
                    killed["pid"] = pids[busy[0]]
                    killed["while_running"] = not done.is_set()
                    os.kill(pids[busy[0]], signal.SIGKILL)
                    return
                time.sleep(0.02)

        killer = threading.Thread(target=kill_one_worker)
        killer.start()
        out = tmp_path / "many.jsonl"
        try:
            summary = yolo4.dask.write_jsonl(records, out, client, progress=False)
        finally:
            done.set()
            killer.join()
        assert killed.get("while_running"), "the job finished before a worker was killed"
        assert summary["images"] == 300 and summary["failed"] == 0
        written = [json.loads(line) for line in out.read_text().splitlines()]
        assert [Path(r["image"]).name for r in written] == sorted(p.name for p in directory.iterdir())
        for record in written:
            source = Path(record["image"]).name.split("_", 1)[1]
            assert record["detections"] == expected[source]["detections"]
        client.wait_for_workers(2, timeout=60)
        assert killed["pid"] not in client.run(os.getpid).values()
