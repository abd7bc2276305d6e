"""onnxruntime detectors: a COCO detector for people (YOLOX or YOLOv8 layout) and BlazeFace exports.

The execution provider is chosen once: TensorRT, then CUDA when onnxruntime
offers them (a Jetson's onnxruntime-gpu), else the CPU.  The output layout is
recognised from the model's output shape, so a board can use the manifest's
``yolox-nano`` or its own YOLOv8 export without configuration.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from appliance.core.errors import ModelError
from appliance.vision.detect import Detection, letterbox, to_detections

_LOGGER = logging.getLogger(__name__)

PERSON = 0
"""COCO class id of 'person'."""
NMS_IOU = 0.45
YOLOX_STRIDES = (8, 16, 32)
PROVIDERS = {
    "tensorrt": ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"),
    "cuda": ("CUDAExecutionProvider", "CPUExecutionProvider"),
    "cpu": ("CPUExecutionProvider",),
    "auto": ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"),
}


def choose_providers(device: str, available: list[str]) -> list[str]:
    """The wanted providers that this onnxruntime has, best first (CPU always last)."""
    chosen = [p for p in PROVIDERS[device] if p in available]
    return chosen or ["CPUExecutionProvider"]


def open_session(path: Path, *, device: str = "auto", threads: int = 1) -> Any:
    """An InferenceSession on the best available provider."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    providers = choose_providers(device, ort.get_available_providers())
    try:
        session = ort.InferenceSession(str(path), sess_options=options, providers=providers)
    except Exception as err:
        raise ModelError("model-load-failed", f"cannot load {path}: {err}") from err
    _LOGGER.info("%s runs on %s", path.name, ", ".join(session.get_providers()))
    return session


def decode_yolox(raw: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """YOLOX head output (N, 5 + classes) on grids of strides 8/16/32 → person boxes (x0,y0,x1,y1) and scores."""
    grids, strides = [], []
    for stride in YOLOX_STRIDES:
        ys, xs = np.meshgrid(np.arange(height // stride), np.arange(width // stride), indexing="ij")
        grids.append(np.stack([xs, ys], axis=-1).reshape(-1, 2))
        strides.append(np.full((grids[-1].shape[0], 1), stride))
    grid, stride = np.concatenate(grids), np.concatenate(strides)
    if len(grid) != len(raw):
        raise ModelError("model-unsupported", f"YOLOX output has {len(raw)} rows, expected {len(grid)}")
    centre = (raw[:, :2] + grid) * stride
    half = np.exp(raw[:, 2:4]) * stride / 2
    scores = raw[:, 4] * raw[:, 5 + PERSON]
    return np.concatenate([centre - half, centre + half], axis=1), scores


def decode_yolov8(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """YOLOv8 output (4 + classes, N): centre/size in input pixels, class scores → person boxes, scores."""
    rows = raw.T
    half = rows[:, 2:4] / 2
    return np.concatenate([rows[:, :2] - half, rows[:, :2] + half], axis=1), rows[:, 4 + PERSON]


class OnnxDetector:
    """A COCO detector ONNX, reporting people."""

    def __init__(self, path: Path, *, kind: str = "person", threshold: float = 0.5, device: str = "auto") -> None:
        self.kind = kind
        self.name = path.stem
        self.threshold = threshold
        self.session = open_session(path, device=device)
        source = self.session.get_inputs()[0]
        self._input = source.name
        self.height, self.width = (int(v) for v in source.shape[2:4])
        shape = self.session.get_outputs()[0].shape
        self.layout = "yolov8" if len(shape) == 3 and isinstance(shape[1], int) and shape[1] < 100 else "yolox"

    def detect(self, image: np.ndarray) -> list[Detection]:
        yolox = self.layout == "yolox"
        # YOLOX: BGR 0..255 padded bottom/right with grey; YOLOv8: RGB 0..1 padded evenly with grey.
        pixels = image if yolox else image[:, :, ::-1]
        boxed, box = letterbox(pixels, self.width, self.height, centre=not yolox, fill=114)
        tensor = boxed.transpose(2, 0, 1)[None].astype(np.float32)
        if not yolox:
            tensor /= 255.0
        raw = self.session.run(None, {self._input: tensor})[0][0]
        boxes, scores = decode_yolox(raw, self.width, self.height) if yolox else decode_yolov8(raw)
        keep = scores >= self.threshold
        return to_detections(self.kind, box.to_frame(boxes[keep]), scores[keep], iou_threshold=NMS_IOU)


def blazeface_runner(path: Path, *, device: str = "auto", threads: int = 1) -> tuple[Any, int]:
    """Run a BlazeFace ONNX export (NCHW or NHWC input); returns the runner and the input side."""
    session = open_session(path, device=device, threads=threads)
    source = session.get_inputs()[0]
    nchw = source.shape[1] == 3
    size = int(source.shape[2] if nchw else source.shape[1])
    widths = [o.shape[-1] for o in session.get_outputs()]
    if sorted(widths) != [1, 16]:
        raise ModelError("model-unsupported", f"{path.name} does not have BlazeFace's two outputs (16 and 1 wide)")
    order = [widths.index(16), widths.index(1)]

    def run(tensor: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        feed = np.ascontiguousarray(tensor.transpose(0, 3, 1, 2)) if nchw else tensor
        outputs = session.run(None, {source.name: feed})
        return outputs[order[0]][0], outputs[order[1]][0, :, 0]

    return run, size
