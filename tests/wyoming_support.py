"""A real daemon serving Wyoming on a free port, for tests/test_wyoming*.py."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from wyoming.client import AsyncTcpClient
from wyoming.event import Event, async_read_event

TIMEOUT_S = 60.0
"""Seconds any one exchange may take (Whisper and Piper on two shared cores)."""


@contextlib.asynccontextmanager
async def serving(tmp_path: Path, engines: Any, registry: Any, **wyoming: Any) -> AsyncIterator[tuple[Any, Any]]:
    """The appliance on the real engines with ``[wyoming]`` on (any free port): (app, its Wyoming feature)."""
    from appliance.audio.sink import NullSink
    from appliance.runtime.inprocess import running
    from appliance.settings import settings_from_dict

    settings = settings_from_dict(
        {
            "paths": {"state_dir": str(tmp_path / "state"), "runtime_dir": str(tmp_path / "run")},
            "memory": {"enabled": False},
            "wyoming": {"enabled": True, "port": 0, "announce": False, **wyoming},
        }
    )
    async with running(settings, engines, registry, NullSink()) as app:
        yield app, next(f for f in app.features if f.name == "wyoming")


@contextlib.asynccontextmanager
async def client(port: int) -> AsyncIterator[AsyncTcpClient]:
    """The ``wyoming`` package's own TCP client, connected."""
    tcp = AsyncTcpClient("127.0.0.1", port, connect_timeout=10, read_timeout=TIMEOUT_S)
    await tcp.connect()
    try:
        yield tcp
    finally:
        await tcp.disconnect()


async def read_until(tcp: AsyncTcpClient, *types: str) -> tuple[list[Event], Event]:
    """Events up to the first of ``types``: (those before it, it)."""
    before: list[Event] = []
    while True:
        event = await asyncio.wait_for(tcp.read_event(), TIMEOUT_S)
        assert event is not None, f"the server closed before {types}; got {[e.type for e in before]}"
        if event.type in types:
            return before, event
        before.append(event)


async def raw_exchange(port: int, data: bytes, *, timeout_s: float = 10.0) -> list[Event]:
    """Send raw bytes, then read events until the server closes (None from the reader)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        events = []
        while (event := await asyncio.wait_for(async_read_event(reader), timeout_s)) is not None:
            events.append(event)
        return events
    finally:
        writer.close()
