"""The ESPHome API's Noise framing: ``Noise_NNpsk0_25519_ChaChaPoly_SHA256`` keyed by the API encryption key.

Every frame is ``0x01``, a big-endian 16-bit length and that many bytes.  The client opens
with an empty frame (its hello) and a frame holding ``0x00`` and the first handshake
message; the server answers with its hello (``0x01``, the chosen protocol, then its name and
MAC, each ended by a zero byte) and ``0x00`` with its handshake message, or ``0x01`` with a
reason when the handshake fails (a wrong key fails the first message's MAC).  After that
each frame is encrypted: inside, the message type and the payload length (16 bits each,
big-endian), then the payload.  The prologue ``NoiseAPIInit\\0\\0`` binds both ends to this
API.  The ``noiseprotocol`` package does the cryptography; the framing is ours.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib

from cryptography.exceptions import InvalidTag
from noise.connection import NoiseConnection
from noise.exceptions import NoiseHandshakeError, NoiseInvalidMessage, NoiseValueError

from appliance.integrations.esphome.framing import NOISE, read_exactly
from appliance.integrations.esphome.messages import ProtocolError

PROTOCOL = b"Noise_NNpsk0_25519_ChaChaPoly_SHA256"
PROLOGUE = b"NoiseAPIInit\x00\x00"
CHOSEN_PROTOCOL = 0x01
"""The one protocol the server hello may choose."""
HANDSHAKE_OK, HANDSHAKE_FAILED = 0x00, 0x01
MAX_FRAME = 0xFFFF
INNER_HEADER = 4
TAG_BYTES = 16

_NOISE_ERRORS = (NoiseHandshakeError, NoiseInvalidMessage, NoiseValueError, InvalidTag, ValueError)


def decode_key(text: str) -> bytes:
    """The 32-byte key from its base64 form (as ESPHome's ``api: encryption: key:``); ValueError otherwise.

    The message never repeats the key.
    """
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the encryption key is not base64") from None
    if len(key) != 32:
        raise ValueError(f"the encryption key is {len(key)} bytes, not 32")
    return key


class NoiseChannel:
    """One client's encrypted messages, after :meth:`handshake`."""

    encrypted = True

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, key: bytes, name: str, mac: str
    ) -> None:
        self.reader, self.writer = reader, writer
        self._hello = bytes((CHOSEN_PROTOCOL,)) + name.encode() + b"\x00" + mac.encode() + b"\x00"
        self._noise = NoiseConnection.from_name(PROTOCOL)
        self._noise.set_as_responder()
        self._noise.set_psks(psk=key)
        self._noise.set_prologue(PROLOGUE)

    async def handshake(self, *, started: bool) -> None:
        """Read the client's hello and handshake, answer both; ProtocolError (after a reason) on failure.

        ``started``: the hello frame's indicator byte was already read.
        """
        await self._frame(started=started)  # the client hello: its content is not used
        self._send_frame(self._hello)
        message = await self._frame()
        if message is None or not message or message[0] != HANDSHAKE_OK:
            raise ProtocolError("esphome-handshake", "the client's handshake frame is malformed")
        self._noise.start_handshake()
        try:
            self._noise.read_message(bytes(message[1:]))
            reply = bytes(self._noise.write_message())
        except _NOISE_ERRORS:
            self._send_frame(bytes((HANDSHAKE_FAILED,)) + b"Handshake MAC failure")
            with contextlib.suppress(OSError, asyncio.TimeoutError):
                await asyncio.wait_for(self.writer.drain(), 1.0)
            raise ProtocolError("esphome-bad-key", "the client's handshake failed: another encryption key") from None
        self._send_frame(bytes((HANDSHAKE_OK,)) + reply)

    async def read(self) -> tuple[int, bytes] | None:
        frame = await self._frame(first=True)
        if frame is None:
            return None
        try:
            inner = self._noise.decrypt(frame)
        except _NOISE_ERRORS:
            raise ProtocolError("esphome-decrypt", "a frame does not decrypt with the session's key") from None
        if len(inner) < INNER_HEADER:
            raise ProtocolError("esphome-malformed", f"a decrypted message of {len(inner)} bytes")
        kind = (inner[0] << 8) | inner[1]
        return kind, bytes(inner[INNER_HEADER:])

    def write(self, messages: list[tuple[int, bytes]]) -> None:
        for kind, payload in messages:
            if len(payload) > MAX_FRAME - INNER_HEADER - TAG_BYTES:
                raise ValueError(f"a message of {len(payload)} bytes does not fit one Noise frame")
            inner = kind.to_bytes(2, "big") + len(payload).to_bytes(2, "big") + payload
            self._send_frame(self._noise.encrypt(inner))

    async def _frame(self, *, started: bool = False, first: bool = False) -> bytes | None:
        if not started:
            indicator = await read_exactly(self.reader, 1, first=first)
            if indicator is None:
                return None
            if indicator[0] != NOISE:
                raise ProtocolError("esphome-malformed", f"a Noise frame starts 0x01, not 0x{indicator[0]:02x}")
        header = await read_exactly(self.reader, 2)
        assert header is not None
        length = (header[0] << 8) | header[1]
        body = await read_exactly(self.reader, length) if length else b""
        assert body is not None
        return body

    def _send_frame(self, body: bytes) -> None:
        self.writer.write(bytes((NOISE, len(body) >> 8, len(body) & 0xFF)) + body)
