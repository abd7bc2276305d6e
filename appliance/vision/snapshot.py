"""Snapshots: one JPEG on request, under <state_dir>/snapshots/, small enough for an MQTT message.

Nothing else in the vision pipeline writes or sends pixels.  The newest
:data:`KEEP` snapshots are kept; older ones are deleted so a forgotten
automation cannot fill the disk with pictures of the room.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from appliance.core.errors import VisionError

KEEP = 20
QUALITIES = (85, 70, 55, 40)


@dataclass(frozen=True)
class Snapshot:
    path: Path
    bytes: int
    width: int
    height: int

    def as_dict(self) -> dict[str, object]:
        return {"path": str(self.path), "bytes": self.bytes, "width": self.width, "height": self.height}


def encode_jpeg(image: np.ndarray, max_bytes: int) -> tuple[bytes, int, int]:
    """JPEG of ``image`` under ``max_bytes``: lower quality first, then halve the size."""
    import cv2

    while True:
        for quality in QUALITIES:
            ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
            if ok and len(data) <= max_bytes:
                return data.tobytes(), image.shape[1], image.shape[0]
        if min(image.shape[:2]) < 32:
            raise VisionError("snapshot-too-large", f"cannot fit a snapshot into {max_bytes} bytes")
        image = cv2.resize(image, (image.shape[1] // 2, image.shape[0] // 2), interpolation=cv2.INTER_AREA)


def save_snapshot(image: np.ndarray, state_dir: Path, max_bytes: int) -> Snapshot:
    """Encode and write one snapshot (mode 0600), pruning old ones."""
    data, width, height = encode_jpeg(image, max_bytes)
    folder = state_dir / "snapshots"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime())
    path = folder / f"snapshot-{stamp}-{time.time_ns() % 1_000_000_000:09d}.jpg"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    _prune(folder)
    return Snapshot(path, len(data), width, height)


def _prune(folder: Path) -> None:
    shots = sorted(folder.glob("snapshot-*.jpg"))
    for old in shots[:-KEEP]:
        old.unlink(missing_ok=True)
