"""The yolo4 Python module on the trained Yolo-Fastest-XL: what it finds (as OpenCV DNN on the
same files), that every way of passing an image gives the same detections, that they equal
`yolo4 detect --json`, raw heads, errors, the GIL released during inference, and correct results
from concurrent threads."""

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

import yolo4


@pytest.fixture(scope="module")
def detector(model_files):
    return yolo4.Detector(model_files["weights"], cfg=model_files["cfg"], threads=2)


@pytest.fixture(scope="module")
def dog(sample_images):
    return sample_images[0]


def assert_same(a, b):
    """Identical detections: same inputs through the same network give the same bits."""
    assert a.dtype == b.dtype
    assert yolo4.to_dicts(a) == yolo4.to_dicts(b)


# ------------------------------------------------------------------------------------------
# What it finds


def opencv_detections(model_files, path, conf=0.25, iou=0.45):
    """OpenCV DNN on the same files: 320x320 plain resize, RGB, score = objectness x class
    probability, per-class NMS. (class_id, score, box) best first."""
    net = cv2.dnn.readNetFromDarknet(model_files["cfg"], model_files["weights"])
    image = cv2.imread(path)
    height, width = image.shape[:2]
    net.setInput(cv2.dnn.blobFromImage(image, 1 / 255, (320, 320), swapRB=True, crop=False))
    rows = np.concatenate(net.forward(net.getUnconnectedOutLayersNames()))
    found = []
    for class_id in range(80):
        keep = rows[:, 5 + class_id] > conf
        scores, boxes = rows[keep, 5 + class_id], rows[keep, :4] * [width, height, width, height]
        corners = np.concatenate([boxes[:, :2] - boxes[:, 2:] / 2, boxes[:, :2] + boxes[:, 2:] / 2], 1)
        xywh = [[x1, y1, x2 - x1, y2 - y1] for x1, y1, x2, y2 in corners.tolist()]
        for i in np.array(cv2.dnn.NMSBoxes(xywh, scores.tolist(), conf, iou)).flatten():
            found.append((class_id, float(scores[i]), corners[i]))
    return sorted(found, key=lambda d: -d[1])


def test_finds_what_opencv_dnn_finds(model_files, sample_images):
    """The dog, the bicycle and the car on dog.jpg, and on every sample image the detections of
    OpenCV DNN on the same files: same classes in the same order, scores within 0.005, boxes
    within 1.5 pixels. OpenCV keeps every class above the threshold per anchor: multi_label."""
    detector = yolo4.Detector(
        model_files["weights"], cfg=model_files["cfg"], preset="fp32", threads=2, multi_label=True
    )
    found = detector.detect(sample_images[0])
    assert found["class_name"].tolist()[:3] == ["dog", "bicycle", "car"]
    assert found["score"][0] > 0.95
    for path in sample_images:
        found = detector.detect(path)
        reference = opencv_detections(model_files, path)
        assert found["class_id"].tolist() == [class_id for class_id, _, _ in reference], path
        for mine, (_, score, box) in zip(found, reference):
            assert mine["score"] == pytest.approx(score, abs=0.005)
            np.testing.assert_allclose(mine["box"], box, atol=1.5)


def test_result_is_a_structured_array_best_first(detector, sample_images):
    for path in sample_images:
        found = detector.detect(path)
        assert found.dtype == detector.detection_dtype
        assert found.dtype.names == ("class_id", "class_name", "score", "box")
        assert found["box"].shape == (len(found), 4)
        assert np.all(np.diff(found["score"]) <= 0)
        names = [detector.class_names[i] for i in found["class_id"]]
        assert found["class_name"].tolist() == names
        assert np.all(found["box"][:, 2] > found["box"][:, 0])
        assert np.all(found["box"][:, 3] > found["box"][:, 1])


def test_to_dicts(detector, dog):
    found = detector.detect(dog)
    records = yolo4.to_dicts(found)
    assert [r["class"] for r in records] == found["class_name"].tolist()
    assert records[0]["box"] == pytest.approx(found[0]["box"].tolist())
    json.dumps(records)  # plain Python values


# ------------------------------------------------------------------------------------------
# Every way of passing an image


def test_array_rgb_path_and_bytes_agree(detector, dog):
    expected = detector.detect(dog)
    assert len(expected) >= 3
    bgr = cv2.imread(dog)
    encoded = Path(dog).read_bytes()
    assert_same(detector.detect(bgr), expected)
    assert_same(detector.detect(np.ascontiguousarray(bgr[..., ::-1]), rgb=True), expected)
    assert_same(detector.detect(bgr[..., ::-1], rgb=True), expected)  # a strided view
    assert_same(detector.detect(Path(dog)), expected)
    assert_same(detector.detect(encoded), expected)
    assert_same(detector.detect(bytearray(encoded)), expected)
    assert_same(detector.detect(memoryview(encoded)), expected)
    # The channel order matters: BGR pixels read as RGB give other detections.
    assert yolo4.to_dicts(detector.detect(bgr, rgb=True)) != yolo4.to_dicts(expected)


def test_detect_with_size(detector, dog):
    found, size = detector.detect_with_size(Path(dog).read_bytes())
    assert size == (768, 576)
    assert_same(found, detector.detect(dog))


def test_detect_many_equals_detect(detector, sample_images):
    images = [sample_images[0], cv2.imread(sample_images[1]), Path(sample_images[2]).read_bytes()]
    images += sample_images[3:]
    results = detector.detect_many(images)
    assert len(results) == len(sample_images)
    for path, found in zip(sample_images, results):
        assert_same(found, detector.detect(path))
    assert detector.detect_many([]) == []


def test_compact_weights_keep_the_blocks_and_the_detections(model_files, sample_images):
    """compact_weights reaches the model (its precision names the blocks) and changes only how
    the bfloat8_b weights stay in memory: the products, and so the detections, are the same."""
    values, blocks = (
        yolo4.Detector(
            model_files["weights"], cfg=model_files["cfg"], preset="report", threads=2,
            compact_weights=compact,
        )
        for compact in (False, True)
    )  # fmt: skip
    assert values.model_info["precision"] == "bfloat16/bfloat8_b/LoFi"
    assert blocks.model_info["precision"] == "bfloat16/bfloat8_b blocks/LoFi"
    for path in sample_images:
        a, b = values.detect(path), blocks.detect(path)
        assert len(a) > 0, path
        assert a["class_id"].tolist() == b["class_id"].tolist(), path
        np.testing.assert_allclose(a["score"], b["score"], atol=1e-5)
        np.testing.assert_allclose(a["box"], b["box"], atol=0.01)


def test_equals_the_command_line(detector, sample_images, tmp_path):
    binary = os.environ.get("YOLO4_BIN")
    if not binary:
        pytest.skip("YOLO4_BIN (the yolo4 executable) not set; CTest sets it")
    info = detector.model_info
    out = tmp_path / "cli.json"
    command = [
        binary, "detect", "--weights", info["weights"], "--cfg", info["cfg"],
        "--size", str(info["input_size"][0]), "--threads", "2", "--conf", str(info["conf"]),
        "--nms", str(info["iou"]), "--max-det", str(info["max_det"]), "--json", str(out),
        "--quiet", *sample_images,
    ]  # fmt: skip
    subprocess.run(command, check=True, timeout=120)
    cli = json.loads(out.read_text())
    assert [entry["image"] for entry in cli] == sample_images
    for entry, path in zip(cli, sample_images):
        found = yolo4.to_dicts(detector.detect(path))
        assert [d["class_id"] for d in found] == [d["class_id"] for d in entry["detections"]], path
        for mine, theirs in zip(found, entry["detections"]):
            assert mine["class"] == theirs["class"]
            assert mine["score"] == pytest.approx(theirs["score"], abs=1e-5)  # 5 decimals
            assert mine["box"] == pytest.approx(theirs["box"], abs=0.01)  # 2 decimals


# ------------------------------------------------------------------------------------------
# Raw heads


def network_input(path, size):
    rgb = cv2.cvtColor(cv2.imread(path), cv2.COLOR_BGR2RGB)
    return cv2.resize(rgb, (size, size), interpolation=cv2.INTER_LINEAR).astype(np.float32) / 255


def test_heads_shapes_and_batches(detector, sample_images):
    width, height = detector.input_size
    assert (width, height) == (320, 320)
    x = np.stack([network_input(sample_images[0], 320), network_input(sample_images[3], 320)])
    heads = detector.heads(x)
    layers = detector.model_info["yolo_layers"]
    assert len(heads) == len(layers) == 2
    # Yolo-Fastest-XL: heads at strides 32 and 16, 3 anchors of 5 + 80 channels each.
    assert sorted(h.shape for h in heads) == [(2, 10, 10, 255), (2, 20, 20, 255)]
    for head, layer in zip(heads, layers):
        assert head.dtype == np.float32
        assert head.shape[3] == len(layer["anchors"]) // 2 * (5 + layer["classes"])
        assert np.all(np.isfinite(head))
    # Each image of the batch gives what it gives alone, and the two differ.
    for i in range(2):
        alone = detector.heads(x[i : i + 1])
        for batched, single in zip(heads, alone):
            np.testing.assert_allclose(batched[i : i + 1], single, rtol=0, atol=1e-4)
    assert not np.allclose(heads[0][0], heads[0][1])


def test_heads_rejects_bad_inputs(detector):
    with pytest.raises(TypeError, match="float32"):
        detector.heads(np.zeros((1, 320, 320, 3), np.float64))
    with pytest.raises(ValueError, match=r"\(N, H, W, 3\).*\(320, 320, 3\)"):
        detector.heads(np.zeros((320, 320, 3), np.float32))
    with pytest.raises(yolo4.Error):
        detector.heads(np.zeros((1, 100, 100, 3), np.float32))  # not a multiple of the stride


# ------------------------------------------------------------------------------------------
# Errors carry the library's message


def test_bad_arrays(detector):
    with pytest.raises(TypeError, match=r"image: expected a uint8 array .* got dtype float32"):
        detector.detect(np.zeros((32, 32, 3), np.float32))
    wrong_shape = r"image: expected a uint8 array of shape \(H, W, 3\).*got \(32, 32\)"
    with pytest.raises(ValueError, match=wrong_shape):
        detector.detect(np.zeros((32, 32), np.uint8))
    with pytest.raises(ValueError, match=r"got \(32, 32, 4\)"):
        detector.detect(np.zeros((32, 32, 4), np.uint8))
    with pytest.raises(ValueError, match=r"got \(0, 32, 3\)"):
        detector.detect(np.zeros((0, 32, 3), np.uint8))
    with pytest.raises(TypeError, match=r"images\[1\]: expected a uint8 numpy array.*got int"):
        detector.detect_many([np.zeros((32, 32, 3), np.uint8), 7])


def test_missing_file(detector, tmp_path):
    missing = tmp_path / "missing.jpg"
    message = rf"image {missing}: cannot open \(No such file or directory\)"
    with pytest.raises(yolo4.Error, match=message):
        detector.detect(missing)


def test_corrupt_and_truncated_bytes(detector, dog, tmp_path):
    with pytest.raises(yolo4.Error, match="image image: not an image"):
        detector.detect(b"these are not the pixels you are looking for")
    whole = Path(dog).read_bytes()
    with pytest.raises(yolo4.Error, match="truncated JPEG"):
        detector.detect(whole[: len(whole) // 2])
    with pytest.raises(yolo4.Error, match=r"image images\[1\]: empty \(0 bytes\)"):
        detector.detect_many([whole, b""])
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 not really a JPEG")
    with pytest.raises(yolo4.Error, match=str(corrupt)):
        detector.detect(corrupt)


def test_bad_model_arguments(model_files, tmp_path):
    with pytest.raises(yolo4.Error, match="unknown preset 'fp64'"):
        yolo4.Detector(model_files["weights"], cfg=model_files["cfg"], preset="fp64")
    missing = tmp_path / "missing.weights"
    with pytest.raises(yolo4.Error, match=str(missing)):
        yolo4.Detector(missing, cfg=model_files["cfg"])
    with pytest.raises(yolo4.Error, match="nms 'soft'"):
        yolo4.Detector(model_files["weights"], cfg=model_files["cfg"], nms="soft")
    assert issubclass(yolo4.Error, RuntimeError)


# ------------------------------------------------------------------------------------------
# Threads


def test_gil_is_released_during_inference(detector, sample_images):
    """A Python thread runs while the main thread is inside detect_many. With a switch interval
    far longer than the test, the interpreter never takes the GIL from the main thread: the
    other thread can only run where the module releases it."""
    state = {"inside": False, "ran_inside": 0, "stop": False}

    def watcher():
        while not state["stop"]:
            if state["inside"]:
                state["ran_inside"] += 1
            time.sleep(0.0005)  # gives the GIL back, so the main thread never waits long

    def inside(work):
        state["ran_inside"] = 0
        state["inside"] = True
        work()
        state["inside"] = False
        return state["ran_inside"]

    thread = threading.Thread(target=watcher)
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1000)
    try:
        thread.start()
        time.sleep(0.01)
        # Control: pure Python work of similar length keeps the GIL; the watcher never runs.
        deadline = time.perf_counter() + 0.2
        assert inside(lambda: [0 for _ in iter(lambda: time.perf_counter() < deadline, False)]) == 0
        assert inside(lambda: detector.detect_many(sample_images * 2)) > 10
    finally:
        state["stop"] = True
        sys.setswitchinterval(interval)
        thread.join()


def test_threads_share_one_detector_correctly(model_files, sample_images):
    detector = yolo4.Detector(model_files["weights"], cfg=model_files["cfg"], threads=1)
    pixels = [cv2.imread(p) for p in sample_images]
    expected = [yolo4.to_dicts(detector.detect(p)) for p in pixels]
    results = {}

    def work(index):
        order = pixels[index:] + pixels[:index]  # each thread starts at another image
        results[index] = [yolo4.to_dicts(detector.detect(p)) for p in order * 2]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for index in range(4):
        order = expected[index:] + expected[:index]
        assert results[index] == order * 2


# ------------------------------------------------------------------------------------------
# The package


def test_package(detector, model_files):
    assert yolo4.__version__ == "0.1.0"
    package = Path(yolo4.__file__).parent
    for name in ("py.typed", "_core.pyi", "dask/__init__.py", "dask/__main__.py"):
        assert (package / name).exists(), name
    for obj in (yolo4.Detector, yolo4.Detector.detect, yolo4.Detector.detect_many, yolo4.Detector.heads):
        assert obj.__doc__ and len(obj.__doc__) > 40
    info = detector.model_info
    assert info["classes"] == 80 and len(detector.class_names) == 80
    assert info["cfg"] == model_files["cfg"] and info["weights"] == model_files["weights"]
    assert info["input_size"] == (320, 320)
    assert info["preset"] == "auto" and info["threads"] == 2
    assert "yolo-fastest-1.1-xl" in repr(detector)
    assert set(detector.last_timings) == {"preprocess_ms", "network_ms", "postprocess_ms"}
