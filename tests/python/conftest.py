"""pytest fixtures of the yolo4 Python package's tests (test_yolo4_*.py): the trained
Yolo-Fastest-XL model and the sample images in $YOLO4_SHARED_DATA (CTest sets it; default
../../../shared/data from here). CTest puts the built package first on PYTHONPATH."""

import os
from pathlib import Path

import pytest

DEFAULT_SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
SHARED = Path(os.environ.get("YOLO4_SHARED_DATA", DEFAULT_SHARED))
MODELS = SHARED / "models"
SAMPLE_NAMES = ["dog", "eagle", "giraffe", "horses", "kite", "person"]


@pytest.fixture(scope="session")
def model_files():
    weights = MODELS / "yolo-fastest-1.1-xl.weights"
    cfg = MODELS / "yolo-fastest-1.1-xl.cfg"
    for path in (weights, cfg):
        if not path.exists():
            pytest.fail(f"{path} missing (set YOLO4_SHARED_DATA)")
    return {"weights": str(weights), "cfg": str(cfg)}


@pytest.fixture(scope="session")
def sample_images():
    paths = [SHARED / "images" / f"{name}.jpg" for name in SAMPLE_NAMES]
    for path in paths:
        if not path.exists():
            pytest.fail(f"{path} missing (set YOLO4_SHARED_DATA)")
    return [str(p) for p in paths]
