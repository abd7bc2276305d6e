"""BlazeFace face detection (MediaPipe's short- and full-range models) with our own pre/post-processing.

The network gives, per SSD anchor, 16 regressors (box centre offset and size,
then six key points) and one logit.  We build the anchors, letterbox the
frame into the square input, decode boxes, apply the score threshold and
suppress overlaps.  The same decoding serves the ``.tflite`` files (run with
tflite-runtime, the default) and an ``.onnx`` export of them (onnxruntime).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from appliance.core.errors import ModelError
from appliance.settings import VisionSettings
from appliance.vision.detect import Detection, letterbox, to_detections

_LOGGER = logging.getLogger(__name__)

NMS_IOU = 0.3
SCORE_CLIP = 100.0
"""Logits are clipped before the sigmoid, as MediaPipe does."""

Runner = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
"""(1, S, S, 3) float32 in -1..1 → (regressors (N, 16), logits (N,))."""


@dataclass(frozen=True)
class Variant:
    name: str
    size: int
    """Square input side, pixels."""
    layers: tuple[tuple[int, int], ...]
    """(stride, anchors per cell) per feature map, in output order."""


SHORT_RANGE = Variant("short-range", 128, ((8, 2), (16, 6)))
"""Faces within ~2 m: 16×16×2 + 8×8×6 = 896 anchors."""
FULL_RANGE = Variant("full-range", 192, ((4, 1),))
"""Faces within ~5 m: 48×48×1 = 2304 anchors."""


def anchors(variant: Variant) -> np.ndarray:
    """Anchor centres (N, 2) as fractions of the input, in the network's output order."""
    rows = []
    for stride, per_cell in variant.layers:
        cells = -(-variant.size // stride)
        ys, xs = np.meshgrid(np.arange(cells), np.arange(cells), indexing="ij")
        centres = np.stack([(xs + 0.5) / cells, (ys + 0.5) / cells], axis=-1).reshape(-1, 2)
        rows.append(np.repeat(centres, per_cell, axis=0))
    return np.concatenate(rows).astype(np.float32)


def decode_boxes(regressors: np.ndarray, anchor_centres: np.ndarray, size: int) -> np.ndarray:
    """(N, 16) regressors → (N, 4) boxes (x0, y0, x1, y1) in input pixels (fixed-size anchors)."""
    centre = regressors[:, :2] + anchor_centres * size
    half = regressors[:, 2:4] / 2
    return np.concatenate([centre - half, centre + half], axis=1)


def sigmoid(logits: np.ndarray) -> np.ndarray:
    clipped = np.clip(logits.astype(np.float64), -SCORE_CLIP, SCORE_CLIP)
    return (1.0 / (1.0 + np.exp(-clipped))).astype(np.float32)


class BlazeFace:
    """One BlazeFace variant with a runner (tflite or onnx)."""

    kind = "face"

    def __init__(self, run: Runner, variant: Variant, *, threshold: float, name: str) -> None:
        self._run = run
        self.variant = variant
        self.threshold = threshold
        self.name = name
        self._anchors = anchors(variant)

    def detect(self, image: np.ndarray) -> list[Detection]:
        import cv2

        size = self.variant.size
        boxed, box = letterbox(cv2.cvtColor(image, cv2.COLOR_BGR2RGB), size, size)
        tensor = (boxed.astype(np.float32) / 127.5 - 1.0)[None]
        regressors, logits = self._run(tensor)
        if len(logits) != len(self._anchors):
            raise ModelError("model-unsupported", f"{self.name}: {len(logits)} outputs, expected {len(self._anchors)}")
        scores = sigmoid(logits)
        keep = scores >= self.threshold
        if not keep.any():
            return []
        boxes = box.to_frame(decode_boxes(regressors[keep], self._anchors[keep], size))
        return to_detections("face", boxes, scores[keep], iou_threshold=NMS_IOU)


def variant_for(size: int, path: Path) -> Variant:
    for variant in (SHORT_RANGE, FULL_RANGE):
        if variant.size == size:
            return variant
    raise ModelError("model-unsupported", f"{path.name}: input {size}×{size} is not a BlazeFace short/full-range model")


def load_blazeface(path: Path, settings: VisionSettings) -> BlazeFace:
    """A BlazeFace detector for a .tflite (tflite-runtime) or .onnx (onnxruntime) file."""
    if path.suffix.lower() == ".onnx":
        from appliance.vision.onnx_detect import blazeface_runner

        run, size = blazeface_runner(path, device=settings.onnx_device, threads=settings.threads)
    else:
        run, size = _tflite_runner(path, settings.threads)
    variant = variant_for(size, path)
    _LOGGER.info("Face detector: BlazeFace %s (%s)", variant.name, path.name)
    return BlazeFace(run, variant, threshold=settings.face_threshold, name=f"blazeface-{variant.name}")


def _tflite_runner(path: Path, threads: int) -> tuple[Runner, int]:
    try:
        from tflite_runtime.interpreter import Interpreter
    except ImportError:  # Python 3.12: LiteRT is tflite-runtime's successor with the same API
        from ai_edge_litert.interpreter import Interpreter
    try:
        interpreter = Interpreter(model_path=str(path), num_threads=threads)
        interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as err:
        raise ModelError("model-load-failed", f"cannot load {path}: {err}") from err
    source = interpreter.get_input_details()[0]
    outputs = {int(d["shape"][-1]): d["index"] for d in interpreter.get_output_details()}
    if set(outputs) != {16, 1}:
        raise ModelError("model-unsupported", f"{path.name} does not have BlazeFace's two outputs (16 and 1 wide)")

    def run(tensor: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        interpreter.set_tensor(source["index"], tensor)
        interpreter.invoke()
        return interpreter.get_tensor(outputs[16])[0], interpreter.get_tensor(outputs[1])[0, :, 0]

    return run, int(source["shape"][1])
