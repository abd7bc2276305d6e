"""The Home Assistant link against hostile or broken peers (a real WebSocket server playing Home Assistant):
coded errors, closed sessions and reconnects, never a crash; the token never in logs or status."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve

from appliance.home.assistant import HaDevice, HomeAssistantError
from appliance.integrations.home_assistant.link import HomeAssistantLink
from appliance.settings import settings_from_dict

from .fakes import until

TOKEN = "secret.token.value"
Peer = Callable[[ServerConnection], Awaitable[None]]


@contextlib.asynccontextmanager
async def peer(handler: Peer, **options: Any) -> AsyncIterator[HomeAssistantLink]:
    """A WebSocket server running ``handler`` per connection, and a link to it (run in the background)."""
    connections = []

    async def serving(ws: ServerConnection) -> None:
        connections.append(ws)
        with contextlib.suppress(Exception):
            await handler(ws)

    async with serve(serving, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        cfg = settings_from_dict(
            {
                "home_assistant": {
                    "url": f"http://127.0.0.1:{port}",
                    "token_file": "/unused",
                    "retry_max_s": 1.0,
                    **options,
                }
            }
        ).home_assistant
        link = HomeAssistantLink(cfg, TOKEN, on_devices=lambda devices: None)
        task = asyncio.create_task(link.run())
        try:
            yield link
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, 5)
            link.connections = len(connections)  # type: ignore[attr-defined]


async def logged_in(ws: ServerConnection) -> dict[str, Any]:
    await ws.send(json.dumps({"type": "auth_required", "ha_version": "2025.4.4"}))
    auth = json.loads(await ws.recv())
    await ws.send(json.dumps({"type": "auth_ok", "ha_version": "2025.4.4"}))
    return auth


async def answering(ws: ServerConnection, results: dict[str, Any] | None = None) -> None:
    """Answer every command: ``results`` by type, else an empty list."""
    async for raw in ws:
        message = json.loads(raw)
        result = (results or {}).get(message["type"], [])
        await ws.send(json.dumps({"id": message["id"], "type": "result", "success": True, "result": result}))


@pytest.mark.parametrize(
    ("garbage", "error"),
    [
        ("this is not json", "ha-protocol"),
        (json.dumps({"type": "event", "event": "x" * 5000}), ""),
        ("[1, 2, 3]", ""),
        (json.dumps({"id": "nope", "type": "result", "success": True}), ""),
    ],
)
async def test_malformed_messages_close_the_session_or_are_ignored(garbage: str, error: str, caplog) -> None:
    async def handler(ws: ServerConnection) -> None:
        await logged_in(ws)
        await ws.send(garbage)
        await answering(ws)

    caplog.set_level(logging.DEBUG)
    async with peer(handler) as link:
        if error:
            await until(lambda: link.last_error == error, timeout=10, what=error)
        else:
            await until(lambda: link.connected, timeout=10, what="connected despite the junk")
    ours = [r.getMessage() for r in caplog.records if not r.name.startswith("websockets.server")]  # the peer's own
    assert ours and not any(TOKEN in m for m in ours) and TOKEN not in json.dumps(link.status())


async def test_an_oversized_message_closes_the_session_and_it_reconnects() -> None:
    sessions = 0

    async def handler(ws: ServerConnection) -> None:
        nonlocal sessions
        sessions += 1
        await logged_in(ws)
        if sessions == 1:
            await ws.send(json.dumps({"type": "event", "event": {"data": "x" * 1_200_000}}))
        await answering(ws)

    async with peer(handler, max_message_mb=1.0) as link:
        await until(lambda: sessions >= 2 and link.connected, timeout=15, what="reconnected")


async def test_a_refused_token_is_auth_failed_and_said_as_unreachable() -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.send(json.dumps({"type": "auth_required"}))
        assert json.loads(await ws.recv())["access_token"] == TOKEN
        await ws.send(json.dumps({"type": "auth_invalid", "message": "Invalid access token"}))

    async with peer(handler) as link:
        await until(lambda: link.state == "auth_failed", timeout=10, what="auth_failed")
        assert link.status()["last_error"] == "ha-auth"
        device = HaDevice(name="Lamp", entity_id="light.lamp", domain="light")
        with pytest.raises(HomeAssistantError) as caught:
            await link.act(device, "on")
        assert caught.value.code in ("ha-not-exposed", "ha-unreachable")
        with pytest.raises(HomeAssistantError, match="ha-unreachable"):
            await link.converse("turn on the lamp")


async def test_a_peer_that_never_answers_times_out_and_nothing_is_claimed() -> None:
    home = {
        "get_states": [{"entity_id": "light.lamp", "state": "off", "attributes": {"friendly_name": "Lamp"}}],
        "homeassistant/expose_entity/list": {"exposed_entities": {"light.lamp": {"conversation": True}}},
        "config/entity_registry/get_entries": {"light.lamp": {"aliases": []}},
    }

    async def handler(ws: ServerConnection) -> None:
        await logged_in(ws)
        async for raw in ws:
            message = json.loads(raw)
            if message["type"] in ("call_service", "conversation/process"):
                continue  # silence
            result = home.get(message["type"], [])
            await ws.send(json.dumps({"id": message["id"], "type": "result", "success": True, "result": result}))

    async with peer(handler, request_timeout_s=0.5) as link:
        await until(lambda: link.connected, timeout=10, what="connected")
        [lamp] = link.home.devices
        with pytest.raises(HomeAssistantError, match="ha-timeout"):
            await link.act(lamp, "on")
        assert link.connected  # one slow answer does not end the session


async def test_a_refused_call_carries_home_assistants_message() -> None:
    home = {
        "get_states": [{"entity_id": "light.lamp", "state": "off", "attributes": {"friendly_name": "Lamp"}}],
        "homeassistant/expose_entity/list": {"exposed_entities": {"light.lamp": {"conversation": True}}},
    }

    async def handler(ws: ServerConnection) -> None:
        await logged_in(ws)
        async for raw in ws:
            message = json.loads(raw)
            if message["type"] == "call_service":
                error = {"code": "home_assistant_error", "message": "Entity is unavailable"}
                await ws.send(json.dumps({"id": message["id"], "type": "result", "success": False, "error": error}))
                continue
            result = home.get(message["type"], [])
            await ws.send(json.dumps({"id": message["id"], "type": "result", "success": True, "result": result}))

    async with peer(handler) as link:
        await until(lambda: link.connected, timeout=10, what="connected")
        with pytest.raises(HomeAssistantError, match="Entity is unavailable"):
            await link.act(link.home.devices[0], "on")


async def test_nobody_listening_is_unreachable_and_retried() -> None:
    cfg = settings_from_dict(
        {"home_assistant": {"url": "http://127.0.0.1:9", "token_file": "/unused", "connect_timeout_s": 1.0}}
    ).home_assistant
    link = HomeAssistantLink(cfg, TOKEN, on_devices=lambda devices: None)
    task = asyncio.create_task(link.run())
    try:
        await until(lambda: link.last_error == "ha-unreachable", timeout=10, what="unreachable")
        assert link.status()["connection"] == "connecting" and not link.connected
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_answers_of_the_wrong_shape_give_no_devices_and_no_crash() -> None:
    shapes = {
        "get_states": {"not": "a list"},
        "config/entity_registry/list": "text",
        "config/area_registry/list": [1, 2],
        "homeassistant/expose_entity/list": {"exposed_entities": ["light.x"]},
    }

    async def handler(ws: ServerConnection) -> None:
        await logged_in(ws)
        await answering(ws, shapes)

    async with peer(handler) as link:
        await until(lambda: link.connected, timeout=10, what="connected")
        assert link.home.devices == () and link.status()["entities"] == 0
