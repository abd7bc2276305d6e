"""Writes a copy of a GGUF with some metadata values replaced (for the swap tests' hostile models).

The key/value section is copied entry by entry, the replaced ones written anew;
the tensor descriptions and the weights are copied as they are, the weights
re-aligned after the (now longer or shorter) header.
"""

from __future__ import annotations

import struct
from pathlib import Path

from appliance.models.swap.gguf import _Reader

ALIGN = 32
STRING, UINT32 = 8, 4


def _string(text: str) -> bytes:
    data = text.encode()
    return struct.pack("<Q", len(data)) + data


def _entry(key: str, value: str | int) -> bytes:
    if isinstance(value, str):
        return _string(key) + struct.pack("<I", STRING) + _string(value)
    return _string(key) + struct.pack("<I", UINT32) + struct.pack("<I", value)


def write_edited(source: Path, target: Path, changes: dict[str, str | int]) -> Path:
    """``source`` with each key in ``changes`` set to its value (added when absent); returns ``target``."""
    with source.open("rb") as f:
        r = _Reader(f)
        r.take(4)
        version, tensors, keys = struct.unpack("<IQQ", r.take(20))
        entries: list[bytes] = []
        for _ in range(keys):
            start = f.tell()
            key = r.string()
            kind = int(r.scalar("<I"))  # type: ignore[call-overload]
            r.value(kind, keep=False)
            end = f.tell()
            if key not in changes:
                f.seek(start)
                entries.append(f.read(end - start))
        entries += [_entry(k, v) for k, v in changes.items()]
        infos_at = f.tell()
        for _ in range(tensors):
            r.string()
            dims = int(r.scalar("<I"))  # type: ignore[call-overload]
            r.take(8 * dims + 4 + 8)
        infos_end = f.tell()
        f.seek(infos_at)
        infos = f.read(infos_end - infos_at)
        f.seek(infos_end + (-infos_end % ALIGN))
        weights = f.read()
    head = b"GGUF" + struct.pack("<IQQ", version, tensors, len(entries)) + b"".join(entries) + infos
    target.write_bytes(head + b"\0" * (-len(head) % ALIGN) + weights)
    return target
