"""The GGUF header: the metadata a swap checks before it loads a language model.

A bounded reader (pure, no llama.cpp): every count and length in the header is
checked against a limit before anything is read or allocated for it, so a
damaged or hostile file is refused as :class:`GgufError` instead of taking the
memory its header claims.  Numeric arrays are skipped; string arrays are kept
only where the swap needs them (the token texts, for the chat template's BOS
and EOS).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import BinaryIO

MAGIC = b"GGUF"
VERSIONS = (2, 3)
"""Version 1 used 32-bit lengths; llama.cpp no longer reads it either."""
MAX_KEYS = 4096
"""Metadata keys (a model has 20-50)."""
MAX_ARRAY = 1 << 21
"""Entries in one array (the largest vocabularies have ~260k tokens)."""
MAX_STRING = 1 << 20
"""Bytes in one string (a chat template is a few KiB)."""
MAX_TENSORS = 1 << 16
KEPT_ARRAYS = frozenset({"tokenizer.ggml.tokens"})
"""String arrays kept (others are walked and dropped)."""
SMALL_ARRAY = 4096
"""Numeric arrays up to this long are kept (per-layer values such as ``head_count_kv``); longer ones skipped."""

_SCALARS: dict[int, str] = dict(enumerate(("<B", "<b", "<H", "<h", "<I", "<i", "<f", "<?"))) | {
    10: "<Q",
    11: "<q",
    12: "<d",
}
"""GGUF value type → struct format (8 is a string, 9 an array)."""
STRING, ARRAY = 8, 9


class GgufError(ValueError):
    """The header cannot be read: ``out_of_range`` when a count or length passes its limit."""

    def __init__(self, message: str, *, out_of_range: bool = False) -> None:
        super().__init__(message)
        self.out_of_range = out_of_range


@dataclass
class GgufHeader:
    version: int
    tensor_count: int
    metadata: dict[str, object] = field(default_factory=dict)
    tensor_infos_at: int = 0
    """File offset where the tensor descriptions start (the key/values end)."""

    @property
    def architecture(self) -> str:
        return str(self.metadata.get("general.architecture", ""))

    def arch_int(self, key: str) -> int | None:
        """``{architecture}.{key}`` as an int (a per-layer array: its largest entry); None when absent."""
        value = self.metadata.get(f"{self.architecture}.{key}")
        if isinstance(value, list):
            value = max((v for v in value if isinstance(v, int)), default=None)
        return value if isinstance(value, int) and not isinstance(value, bool) else None


class _Reader:
    def __init__(self, f: BinaryIO) -> None:
        self.f = f

    def take(self, n: int) -> bytes:
        data = self.f.read(n)
        if len(data) != n:
            raise GgufError("the header ends early (a truncated file)")
        return data

    def scalar(self, fmt: str) -> object:
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def count(self, limit: int, what: str) -> int:
        n = int(self.scalar("<Q"))  # type: ignore[call-overload]
        if n > limit:
            raise GgufError(f"{what} of {n} is over the limit of {limit}", out_of_range=True)
        return n

    def string(self) -> str:
        return self.take(self.count(MAX_STRING, "a string length")).decode("utf-8", errors="replace")

    def value(self, kind: int, keep: bool) -> object:
        if kind == STRING:
            return self.string()
        if kind in _SCALARS:
            return self.scalar(_SCALARS[kind])
        if kind != ARRAY:
            raise GgufError(f"unknown value type {kind}")
        item = int(self.scalar("<I"))  # type: ignore[call-overload]
        n = self.count(MAX_ARRAY, "an array length")
        if item in _SCALARS and not keep and n > SMALL_ARRAY:
            self.take(n * struct.calcsize(_SCALARS[item]))  # read, not seeked: a short file is caught here
            return None
        if item in _SCALARS:
            fmt = _SCALARS[item]
            return list(struct.unpack(f"<{n}{fmt[1]}", self.take(n * struct.calcsize(fmt))))
        if item != STRING:
            raise GgufError(f"an array of type {item} is not supported")
        items = [self.string() for _ in range(n)]
        return items if keep else None


def read_header(f: BinaryIO) -> GgufHeader:
    """The header of the GGUF file open as ``f`` (at offset 0); GgufError says why it cannot be read."""
    r = _Reader(f)
    if r.take(4) != MAGIC:
        raise GgufError("not a GGUF file")
    version = int(r.scalar("<I"))  # type: ignore[call-overload]
    if version not in VERSIONS:
        raise GgufError(f"GGUF version {version} is not supported", out_of_range=True)
    tensors = r.count(MAX_TENSORS, "a tensor count")
    keys = r.count(MAX_KEYS, "a metadata key count")
    header = GgufHeader(version, tensors)
    for _ in range(keys):
        key = r.string()
        kind = int(r.scalar("<I"))  # type: ignore[call-overload]
        keep = key in KEPT_ARRAYS or kind != ARRAY
        header.metadata[key] = r.value(kind, keep)
    header.tensor_infos_at = f.tell()
    return header
