"""Detectors behind one interface: ``detect(image) -> list[Detection]``.

- faces: BlazeFace short/full range (``.tflite`` with tflite-runtime, or an
  ``.onnx`` export of it with onnxruntime) — :mod:`.blazeface`;
- people: OpenCV's HOG people detector (always available offline) —
  :mod:`.hog`; or a COCO detector ONNX (YOLOX / YOLOv8 layouts, e.g. the
  manifest's ``yolox-nano`` fetched on a board) — :mod:`.onnx_detect`.

Boxes are fractions 0..1 of the frame (x0, y0, x1, y1), so they mean the
same at any resolution and carry no pixels.  Shared pre/post-processing
(letterbox, non-maximum suppression) lives here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from appliance.core.errors import ModelError
from appliance.settings import VisionSettings

_LOGGER = logging.getLogger(__name__)

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Detection:
    kind: str
    """``face`` or ``person``."""
    score: float
    """0..1."""
    box: Box
    """(x0, y0, x1, y1) as fractions of the frame's width and height."""

    def as_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "score": round(self.score, 3), "box": [round(v, 4) for v in self.box]}

    def pixel_box(self, width: int, height: int) -> tuple[int, int, int, int]:
        x0, y0, x1, y1 = self.box
        return round(x0 * width), round(y0 * height), round(x1 * width), round(y1 * height)


class Detector(Protocol):
    kind: str
    name: str

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Detections in one BGR uint8 frame."""
        ...


# -- shared pre/post-processing ------------------------------------------------


@dataclass(frozen=True)
class Letterbox:
    """How a frame was scaled and padded into a square-ish network input."""

    scale: float
    """Network pixels per frame pixel."""
    pad_x: float
    pad_y: float
    width: int
    """Frame width, pixels."""
    height: int

    def to_frame(self, boxes: np.ndarray) -> np.ndarray:
        """Network-pixel (x0, y0, x1, y1) rows → fractions of the frame, clipped to 0..1."""
        out = np.empty_like(boxes, dtype=np.float32)
        out[:, [0, 2]] = (boxes[:, [0, 2]] - self.pad_x) / self.scale / self.width
        out[:, [1, 3]] = (boxes[:, [1, 3]] - self.pad_y) / self.scale / self.height
        return np.clip(out, 0.0, 1.0)


def letterbox(
    image: np.ndarray, width: int, height: int, *, centre: bool = True, fill: int = 0
) -> tuple[np.ndarray, Letterbox]:
    """Scale ``image`` to fit ``width``×``height`` keeping its aspect ratio, padding the rest."""
    import cv2

    h, w = image.shape[:2]
    scale = min(width / w, height / h)
    new_w, new_h = max(round(w * scale), 1), max(round(h * scale), 1)
    resized = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    pad_x = (width - new_w) / 2 if centre else 0.0
    pad_y = (height - new_h) / 2 if centre else 0.0
    canvas = np.full((height, width, image.shape[2]), fill, dtype=image.dtype)
    x, y = int(pad_x), int(pad_y)
    canvas[y : y + new_h, x : x + new_w] = resized
    return canvas, Letterbox(scale, float(x), float(y), w, h)


def iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Intersection over union of one (x0, y0, x1, y1) box with each row of ``boxes``."""
    x0 = np.maximum(box[0], boxes[:, 0])
    y0 = np.maximum(box[1], boxes[:, 1])
    x1 = np.minimum(box[2], boxes[:, 2])
    y1 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / np.maximum(area + areas - inter, 1e-9)


def non_max_suppression(boxes: np.ndarray, scores: np.ndarray, *, iou_threshold: float) -> list[int]:
    """Greedy NMS: indices of the boxes kept, best score first."""
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size:
        best = int(order[0])
        keep.append(best)
        if order.size == 1:
            break
        rest = order[1:]
        order = rest[iou(boxes[best], boxes[rest]) <= iou_threshold]
    return keep


def to_detections(kind: str, boxes: np.ndarray, scores: np.ndarray, *, iou_threshold: float) -> list[Detection]:
    """NMS then :class:`Detection` objects (boxes already fractions of the frame)."""
    if not len(scores):
        return []
    keep = non_max_suppression(boxes, scores, iou_threshold=iou_threshold)
    return [Detection(kind, float(scores[i]), tuple(float(v) for v in boxes[i])) for i in keep]  # type: ignore[arg-type]


# -- building the configured detectors ----------------------------------------------


def load_face_detector(settings: VisionSettings, resolve: Callable[[str], Path]) -> Detector | None:
    """BlazeFace from a manifest name or a .tflite/.onnx path; None when disabled."""
    if not settings.face_model:
        return None
    from appliance.vision.blazeface import load_blazeface

    return load_blazeface(resolve(settings.face_model), settings)


def load_person_detector(settings: VisionSettings, resolve: Callable[[str], Path]) -> Detector | None:
    """HOG, a COCO ONNX detector, or None."""
    if settings.person_detector == "hog":
        from appliance.vision.hog import HogPeopleDetector

        return HogPeopleDetector(threshold=settings.person_threshold)
    if settings.person_detector == "onnx":
        from appliance.vision.onnx_detect import OnnxDetector

        path = resolve(settings.person_model)
        if path.suffix.lower() != ".onnx":
            raise ModelError("model-unsupported", f"person_model {path} is not an .onnx file")
        return OnnxDetector(path, kind="person", threshold=settings.person_threshold, device=settings.onnx_device)
    return None
