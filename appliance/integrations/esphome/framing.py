"""ESPHome API frames within bounds: the plaintext framing, and the choice between it and Noise.

A plaintext frame is ``0x00``, the payload's length and the message's type as protobuf
varints, then the payload.  A Noise frame starts ``0x01`` (:mod:`.noise`).  The first byte a
client sends tells which one it speaks: with an encryption key set only Noise is served,
without one only plaintext, and the other kind is answered with the byte that makes
``aioesphomeapi`` say why (it needs, or must not use, encryption), then closed.

A payload is at most :data:`MAX_MESSAGE_BYTES`; a varint at most 5 bytes; a frame left
half-sent is the session's timeout.  Anything else is a :class:`ProtocolError`.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Protocol

from appliance.integrations.esphome.messages import ProtocolError

PLAINTEXT, NOISE = 0x00, 0x01
"""A frame's first byte."""
MAX_MESSAGE_BYTES = 64 * 1024
"""Bytes of one message's payload (an audio chunk is about 1 kB, a device's entity list a few hundred)."""
MAX_VARINT_BYTES = 5


class Channel(Protocol):
    """One client's messages, whichever framing it speaks."""

    encrypted: bool

    async def read(self) -> tuple[int, bytes] | None:
        """The next (type, payload), or None when the client closed between frames."""
        ...

    def write(self, messages: list[tuple[int, bytes]]) -> None:
        """Queue (type, payload) frames on the transport."""
        ...


async def read_exactly(reader: asyncio.StreamReader, n: int, *, first: bool = False) -> bytes | None:
    """``n`` bytes; None at a clean end (only where ``first``), ProtocolError inside a frame."""
    try:
        return await reader.readexactly(n)
    except asyncio.IncompleteReadError as err:
        if first and not err.partial:
            return None
        raise ProtocolError("esphome-truncated", "the client closed inside a frame") from None
    except ConnectionError:
        if first:
            return None
        raise ProtocolError("esphome-truncated", "the connection broke inside a frame") from None


class PlainChannel:
    """The plaintext framing: ``0x00``, varint length, varint type, payload."""

    encrypted = False

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, started: bool) -> None:
        self.reader, self.writer = reader, writer
        self._started = started
        """True when the first frame's indicator byte was already read (to choose the framing)."""

    async def read(self) -> tuple[int, bytes] | None:
        if self._started:
            self._started = False
        else:
            indicator = await read_exactly(self.reader, 1, first=True)
            if indicator is None:
                return None
            if indicator[0] != PLAINTEXT:
                raise ProtocolError("esphome-malformed", f"a plaintext frame starts 0x00, not 0x{indicator[0]:02x}")
        length = await self._varint()
        if length > MAX_MESSAGE_BYTES:
            raise ProtocolError("esphome-too-large", f"a message of {length} bytes is over {MAX_MESSAGE_BYTES}")
        kind = await self._varint()
        payload = await read_exactly(self.reader, length) if length else b""
        assert payload is not None
        return kind, payload

    async def _varint(self) -> int:
        value = 0
        for i in range(MAX_VARINT_BYTES):
            byte = await read_exactly(self.reader, 1)
            assert byte is not None
            value |= (byte[0] & 0x7F) << (7 * i)
            if not byte[0] & 0x80:
                return value
        raise ProtocolError("esphome-malformed", f"a varint longer than {MAX_VARINT_BYTES} bytes")

    def write(self, messages: list[tuple[int, bytes]]) -> None:
        self.writer.write(b"".join(b"\x00" + varint(len(p)) + varint(kind) + p for kind, p in messages))


def varint(value: int) -> bytes:
    """Protobuf's base-128 encoding of a non-negative integer."""
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        out.append(low | (0x80 if value else 0))
        if not value:
            return bytes(out)


async def refuse_framing(writer: asyncio.StreamWriter, indicator: int) -> None:
    """Answer a client speaking the other framing so that it reports why, before the connection closes.

    A plaintext client reading ``0x01`` says the device requires encryption; a Noise client
    reading ``0x00`` says the device uses plaintext.
    """
    reply = bytes((NOISE, 0, 0)) if indicator == PLAINTEXT else bytes((PLAINTEXT, 0, 0))
    with contextlib.suppress(OSError, asyncio.TimeoutError):
        writer.write(reply)
        await asyncio.wait_for(writer.drain(), 1.0)
