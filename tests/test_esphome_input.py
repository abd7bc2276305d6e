"""Hostile input on the ESPHome API port: each bad connection is closed with a log line, the next client is served."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from appliance.integrations.esphome.framing import varint
from tests.esphome_support import TIMEOUT_S, client, key_file, serving, until

pytestmark = pytest.mark.integration


def frame(kind: int, payload: bytes = b"") -> bytes:
    return b"\x00" + varint(len(payload)) + varint(kind) + payload


HELLO = frame(1, b"\x0a\x05tests")  # HelloRequest(client_info="tests")
CONNECT = frame(3)


async def closed_after(port: int, data: bytes, *, timeout_s: float = TIMEOUT_S) -> bytes:
    """Send ``data``, then read until the server closes the connection; what it sent."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), timeout_s)
    finally:
        writer.close()


async def still_serves(port: int) -> None:
    async with client(port) as api:
        assert (await api.device_info()).name


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"\x07 not an ESPHome frame", "esphome-malformed"),
        (b"\x00" + varint(50_000_000) + varint(1), "esphome-too-large"),
        (b"\x00\xff\xff\xff\xff\xff\xff\x01", "esphome-malformed"),
        (HELLO + frame(9999, b"\x01"), "esphome-unknown-message"),
        (HELLO + frame(2, b"\x08\x01"), "esphome-wrong-direction"),
        (HELLO + frame(1, b"\xff\xff\xff\xff"), "esphome-malformed"),
        (HELLO + frame(11), "esphome-not-connected"),
        (HELLO + CONNECT + b"\x05" + frame(7), "esphome-malformed"),
        (HELLO + b"\x00\x05\x01ab", "esphome-truncated"),
    ],
    ids=[
        "garbage",
        "huge-length",
        "long-varint",
        "unknown-type",
        "device-only-type",
        "bad-protobuf",
        "before-connect",
        "bad-indicator",
        "closed-mid-frame",
    ],
)
async def test_a_bad_frame_closes_only_its_connection(tmp_path: Path, engines, registry, data: bytes, code: str):
    async with serving(tmp_path, engines, registry) as (_app, feature):
        if code == "esphome-truncated":
            reader, writer = await asyncio.open_connection("127.0.0.1", feature.port)
            writer.write(data)
            await writer.drain()
            writer.close()  # gone inside the frame
            await reader.read()
        else:
            await closed_after(feature.port, data)
        await until(lambda: feature.status()["closed_for"].get(code) == 1, what=f"a close for {code}")
        await still_serves(feature.port)
        assert feature.status()["clients"] == 0 or feature.status()["clients"] == 1


async def test_a_half_sent_frame_is_closed_at_the_idle_timeout(tmp_path: Path, engines, registry):
    async with serving(tmp_path, engines, registry, idle_timeout_s=1.0) as (_app, feature):
        loop = asyncio.get_running_loop()
        start = loop.time()
        await closed_after(feature.port, HELLO + b"\x00\x40\x01partial", timeout_s=10)
        assert 0.9 < loop.time() - start < 5.0
        assert feature.status()["closed_for"] == {"esphome-idle": 1}
        await still_serves(feature.port)


async def test_garbage_in_place_of_a_noise_handshake(tmp_path: Path, engines, registry):
    async with serving(tmp_path, engines, registry, encryption_key_file=key_file(tmp_path)) as (_app, feature):
        await closed_after(feature.port, b"\x01\x00\x00" + b"\x01\x00\x05\x00hello")
        await closed_after(feature.port, b"\x01\x00\x00" + b"\x01\x00\x02\x07x")
        await until(lambda: sum(feature.status()["closed_for"].values()) == 2, what="two closes")
        assert feature.status()["closed_for"] == {"esphome-bad-key": 1, "esphome-handshake": 1}


async def test_a_hundred_connects_at_once_leave_the_port_serving(tmp_path: Path, engines, registry):
    async with serving(tmp_path, engines, registry, max_clients=4) as (_app, feature):
        opened = await asyncio.gather(
            *(asyncio.open_connection("127.0.0.1", feature.port) for _ in range(100)), return_exceptions=True
        )
        writers = [pair[1] for pair in opened if isinstance(pair, tuple)]
        await until(lambda: feature.status()["refused"] >= 96, what="96 refused")
        assert feature.status()["clients"] == 4
        for writer in writers:
            writer.close()
        await until(lambda: feature.status()["clients"] == 0, what="the four closed")
        await still_serves(feature.port)
