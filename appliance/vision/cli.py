"""``appliance vision detect FILE [--json]``: the detectors on one image or video, for tests, tuning and bug reports."""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from appliance.core.errors import VisionError
from appliance.models.registry import ModelRegistry
from appliance.settings import Settings
from appliance.vision import build_processor
from appliance.vision.camera import (
    IMAGE_SUFFIXES,
    CaptureSource,
    Frame,
    read_image,
)
from appliance.vision.detect import Detection
from appliance.vision.motion import RateCap


def detect_file(settings: Settings, path: Path, *, fps: float | None = None) -> dict[str, Any]:
    """Detections per analysed frame of an image or video file (every frame at ``fps``, no motion gate)."""
    if not path.is_file():
        raise VisionError("file-missing", f"{path} does not exist")
    vision = replace(settings.vision, fps=fps or settings.vision.fps)
    processor = build_processor(vision, ModelRegistry(settings.state_dir, show_progress=False).resolve)
    frames = [Frame(read_image(path), 0.0)] if path.suffix.lower() in IMAGE_SUFFIXES else None
    rows: list[dict[str, Any]] = []
    size = (0, 0)
    for frame in frames or _video_frames(path, vision):
        size = (frame.image.shape[1], frame.image.shape[0])
        found = processor.detect(frame.image, None)
        rows.append({"t": round(frame.t, 3), "detections": [_row(d, *size) for d in found]})
    return {
        "file": str(path),
        "kind": "image" if frames else "video",
        "width": size[0],
        "height": size[1],
        "frames": rows,
    }


def _video_frames(path: Path, vision: Any) -> Any:
    source = CaptureSource(str(path), "file", vision, realtime=False)
    try:
        source.open()
    except VisionError as err:
        raise VisionError("file-unreadable", f"{path} is not a readable image or video ({err.message})") from err
    cap = RateCap(vision.fps)
    try:
        while True:
            try:
                frame = source.read(cap.due)
            except EOFError:
                return
            if frame is not None:
                yield frame
    finally:
        source.close()


def _row(detection: Detection, width: int, height: int) -> dict[str, Any]:
    return {**detection.as_dict(), "pixels": list(detection.pixel_box(width, height))}


def vision_command(settings: Settings, args: argparse.Namespace) -> int:
    result = detect_file(settings, args.file, fps=args.fps)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{result['file']}: {result['kind']} {result['width']}x{result['height']}, {len(result['frames'])} frame(s)")
    for row in result["frames"]:
        prefix = f"t={row['t']:.2f}s " if result["kind"] == "video" else ""
        if not row["detections"]:
            print(f"{prefix}no detections")
        for d in row["detections"]:
            x0, y0, x1, y1 = d["pixels"]
            print(f"{prefix}{d['kind']:6} score {d['score']:.2f}  box ({x0},{y0})-({x1},{y1}) px")
    return 0
