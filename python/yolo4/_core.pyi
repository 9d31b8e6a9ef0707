"""Type stubs for yolo4._core, the native part of the yolo4 package."""

import os
from collections.abc import Iterable
from typing import Any, Union

import numpy as np
import numpy.typing as npt

__version__: str
COCO_CATEGORY_IDS: tuple[int, ...]

ImageInput = Union[npt.NDArray[np.uint8], str, os.PathLike[str], bytes, bytearray, memoryview]

class Error(RuntimeError):
    """An error the yolo4 library reported; the message names the input and what was expected."""

class Detector:
    def __init__(
        self,
        weights: Union[str, os.PathLike[str], None],
        cfg: Union[str, os.PathLike[str], None] = None,
        size: int | None = 320,
        preset: str = "auto",
        threads: int | None = None,
        names: Union[str, os.PathLike[str], None] = None,
        *,
        model: str | None = None,
        conf: float | None = None,
        iou: float | None = None,
        max_det: int | None = None,
        multi_label: bool = False,
        letterbox: bool | None = None,
        nms: str = "iou",
        scale_xy: float | None = None,
        pin: bool = False,
        compact_weights: bool = False,
    ) -> None: ...
    def detect(self, image: ImageInput, *, rgb: bool = False) -> np.ndarray:
        """Detections, best first: a structured array with the fields class_id, class_name,
        score and box (x1, y1, x2, y2 in the image's pixels)."""
    def detect_with_size(
        self, image: ImageInput, *, rgb: bool = False
    ) -> tuple[np.ndarray, tuple[int, int]]:
        """detect(), and the image's (width, height)."""
    def detect_many(self, images: Iterable[ImageInput], *, rgb: bool = False) -> list[np.ndarray]: ...
    def heads(self, x: npt.NDArray[np.float32]) -> list[npt.NDArray[np.float32]]:
        """The raw head tensors (N, H / stride, W / stride, anchors * (5 + classes)) for a
        network input (N, H, W, 3) float32 RGB in [0, 1]."""
    @property
    def model_info(self) -> dict[str, Any]: ...
    @property
    def class_names(self) -> list[str]: ...
    @property
    def input_size(self) -> tuple[int, int]: ...
    @property
    def detection_dtype(self) -> np.dtype[Any]: ...
    @property
    def last_timings(self) -> dict[str, float]: ...
