"""Writes a tiny LoRA adapter in GGUF (v3) for the LoRA test: one low-rank update of one weight."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

ALIGN = 32
STRING, FLOAT32 = 8, 6
F32 = 0


def _string(text: str) -> bytes:
    data = text.encode()
    return struct.pack("<Q", len(data)) + data


def write_lora(path: Path, tensors: dict[str, np.ndarray], *, architecture: str, alpha: float) -> None:
    """``tensors``: name → float32 array shaped (ne1, ne0), numpy row-major as ggml stores it."""
    kv = [
        ("general.architecture", STRING, _string(architecture)),
        ("general.type", STRING, _string("adapter")),
        ("adapter.type", STRING, _string("lora")),
        ("adapter.lora.alpha", FLOAT32, struct.pack("<f", alpha)),
    ]
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kv))
    for key, kind, value in kv:
        head += _string(key) + struct.pack("<I", kind) + value
    blobs, offset = [], 0
    for name, array in tensors.items():
        ne = list(reversed(array.shape))
        head += _string(name) + struct.pack("<I", len(ne)) + struct.pack(f"<{len(ne)}Q", *ne)
        head += struct.pack("<IQ", F32, offset)
        blob = np.ascontiguousarray(array, dtype="<f4").tobytes()
        blob += b"\0" * (-len(blob) % ALIGN)
        blobs.append(blob)
        offset += len(blob)
    head += b"\0" * (-len(head) % ALIGN)
    path.write_bytes(head + b"".join(blobs))
