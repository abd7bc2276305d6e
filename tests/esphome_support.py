"""A real appliance serving the ESPHome native API on a free port, and aioesphomeapi's own client to reach it."""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aioesphomeapi import APIClient

from tests.fakes import RecordingSink

TIMEOUT_S = 30.0
"""Seconds one exchange may take (two shared cores)."""
KEY = base64.b64encode(bytes(range(32))).decode()
"""A test API encryption key (base64 of 32 bytes)."""


@contextlib.asynccontextmanager
async def serving(
    tmp_path: Path, engines: Any, registry: Any, *, sink: Any = None, **esphome: Any
) -> AsyncIterator[tuple[Any, Any]]:
    """The appliance on the real engines with ``[esphome]`` on (any free port): (app, its ESPHome feature)."""
    from appliance.runtime.inprocess import running
    from appliance.settings import settings_from_dict

    settings = settings_from_dict(
        {
            "device": {"id": "test-satellite"},
            "paths": {"state_dir": str(tmp_path / "state"), "runtime_dir": str(tmp_path / "run")},
            "memory": {"enabled": False},
            "esphome": {"enabled": True, "port": 0, "announce": False, **esphome},
        }
    )
    async with running(settings, engines, registry, sink if sink is not None else RecordingSink()) as app:
        yield app, next(f for f in app.features if f.name == "esphome")


def key_file(tmp_path: Path, key: str = KEY) -> str:
    path = tmp_path / "esphome.key"
    path.write_text(key + "\n")
    path.chmod(0o600)
    return str(path)


@contextlib.asynccontextmanager
async def client(port: int, *, noise_psk: str | None = None) -> AsyncIterator[APIClient]:
    """aioesphomeapi's APIClient (as Home Assistant uses it), connected and logged in."""
    api = APIClient("127.0.0.1", port, None, noise_psk=noise_psk, client_info="appliance-tests")
    await asyncio.wait_for(api.connect(login=True), TIMEOUT_S)
    try:
        yield api
    finally:
        await asyncio.wait_for(api.disconnect(), TIMEOUT_S)


async def until(predicate: Any, timeout_s: float = TIMEOUT_S, what: str = "the condition") -> None:
    """Poll ``predicate()`` on the loop until it is true; fail after ``timeout_s``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)
