"""Reading Wyoming events within bounds: a header line, its data, its payload, each capped and timed.

The ``wyoming`` package's own reader trusts ``data_length`` and ``payload_length`` and waits
for ever; a server on a LAN cannot.  Here one event must arrive whole within the idle
timeout, a header line is at most :data:`MAX_HEADER_BYTES`, a data section
:data:`MAX_DATA_BYTES` and a payload :data:`MAX_PAYLOAD_BYTES`, so a connection holds at most
a few hundred kB however it misbehaves.  Anything else is a :class:`WyomingError`, and
the session closes the connection.  Writing uses the package's own writer.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from wyoming.event import Event

from appliance.core.errors import ApplianceError

MAX_HEADER_BYTES = 16 * 1024
"""Bytes of one header line (the JSON before the newline); real ones are under 200."""
MAX_DATA_BYTES = 256 * 1024
"""Bytes of one data section (a synthesize request's text, a context)."""
MAX_PAYLOAD_BYTES = 256 * 1024
"""Bytes of one payload: an audio chunk (one second of 48 kHz stereo 16-bit is 192 000)."""
MAX_TYPE_CHARS = 64


class WyomingError(ApplianceError):
    """A Wyoming client broke the protocol or a limit; its connection is closed."""


async def read_event(reader: asyncio.StreamReader, timeout_s: float) -> Event | None:
    """The next event, or None when the client closed between events.

    Raises :class:`WyomingError` for a malformed or oversized event, and for one not
    sent whole within ``timeout_s`` (an idle connection, or a frame left half-sent).
    """
    try:
        return await asyncio.wait_for(_read(reader), timeout_s)
    except ConnectionError:  # reset by the client: it is gone, as if it had closed
        return None
    except asyncio.TimeoutError:
        raise WyomingError("wyoming-idle", f"nothing complete arrived within {timeout_s:g} s") from None


async def _read(reader: asyncio.StreamReader) -> Event | None:
    try:
        line = await reader.readuntil(b"\n")
    except asyncio.IncompleteReadError as err:
        if not err.partial:
            return None
        raise WyomingError("wyoming-truncated", f"closed inside a header ({len(err.partial)} bytes)") from None
    except asyncio.LimitOverrunError:
        raise WyomingError("wyoming-header-too-large", f"header line over {MAX_HEADER_BYTES} bytes") from None
    except ValueError:  # the stream's own limit was hit while scanning
        raise WyomingError("wyoming-header-too-large", f"header line over {MAX_HEADER_BYTES} bytes") from None
    header = parse_header(line)
    data = header.get("data") or {}
    data_length = _length(header, "data_length", MAX_DATA_BYTES)
    payload_length = _length(header, "payload_length", MAX_PAYLOAD_BYTES)
    try:
        if data_length:
            extra = _json_object(await reader.readexactly(data_length), "data")
            data = {**data, **extra}
        payload = await reader.readexactly(payload_length) if payload_length else None
    except asyncio.IncompleteReadError:
        raise WyomingError("wyoming-truncated", "closed inside an event's data or payload") from None
    return Event(type=header["type"], data=data, payload=payload)


def parse_header(line: bytes) -> dict[str, Any]:
    """One header line as a checked dict: ``type`` a short string, ``data`` an object if present."""
    header = _json_object(line, "header")
    kind = header.get("type")
    if not isinstance(kind, str) or not kind or len(kind) > MAX_TYPE_CHARS:
        raise WyomingError("wyoming-bad-type", f"event type must be a string of 1..{MAX_TYPE_CHARS} characters")
    if not isinstance(header.get("data", {}), dict):
        raise WyomingError("wyoming-malformed", "an event's data must be a JSON object")
    return header


def _length(header: dict[str, Any], key: str, limit: int) -> int:
    value = header.get(key)
    if value is None:
        return 0
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise WyomingError("wyoming-malformed", f"{key} must be a non-negative integer")
    if value > limit:
        code = "wyoming-payload-too-large" if key == "payload_length" else "wyoming-data-too-large"
        raise WyomingError(code, f"{key} {value} is over the limit of {limit} bytes")
    return value


def _json_object(raw: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise WyomingError("wyoming-malformed", f"the {what} is not JSON ({len(raw)} bytes)") from None
    if not isinstance(value, dict):
        raise WyomingError("wyoming-malformed", f"the {what} must be a JSON object")
    return value
