"""A reloaded ``[home_assistant]`` section, applied live (real WebSocket servers playing Home Assistant):
``expose`` at once on what was read, a new address or token by connecting again at once; turning it off,
or a token file that cannot be read, left to a restart."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

from websockets.asyncio.server import ServerConnection, serve

from appliance.integrations.home_assistant.feature import HomeAssistantFeature
from appliance.integrations.home_assistant.link import HomeAssistantLink
from appliance.settings import HomeAssistantSettings, settings_from_dict

from .fakes import until

HOME = {
    "get_states": [
        {"entity_id": "light.lamp", "state": "off", "attributes": {"friendly_name": "Lamp"}},
        {"entity_id": "cover.garage", "state": "closed", "attributes": {"friendly_name": "Garage door"}},
    ],
    "homeassistant/expose_entity/list": {
        "exposed_entities": {"light.lamp": {"conversation": True}, "cover.garage": {"conversation": True}}
    },
}


class Server:
    """One WebSocket server playing Home Assistant: which tokens logged in, how many sessions it had."""

    def __init__(self, accept: str) -> None:
        self.accept = accept
        self.tokens: list[str] = []
        self.url = ""
        self.open: list[ServerConnection] = []

    async def handle(self, ws: ServerConnection) -> None:
        await ws.send(json.dumps({"type": "auth_required", "ha_version": "2025.4.4"}))
        token = json.loads(await ws.recv())["access_token"]
        self.tokens.append(token)
        if token != self.accept:
            await ws.send(json.dumps({"type": "auth_invalid", "message": "Invalid access token"}))
            return
        await ws.send(json.dumps({"type": "auth_ok", "ha_version": "2025.4.4"}))
        self.open.append(ws)
        with contextlib.suppress(Exception):
            async for raw in ws:
                message = json.loads(raw)
                result = HOME.get(message["type"], [])
                await ws.send(json.dumps({"id": message["id"], "type": "result", "success": True, "result": result}))
        self.open.remove(ws)


@contextlib.asynccontextmanager
async def server(accept: str) -> AsyncIterator[Server]:
    peer = Server(accept)
    async with serve(peer.handle, "127.0.0.1", 0) as running:
        peer.url = f"http://127.0.0.1:{running.sockets[0].getsockname()[1]}"
        yield peer


def config(url: str, **options: Any) -> HomeAssistantSettings:
    raw = {"url": url, "token_file": "/unused", "retry_max_s": 120.0, **options}
    return settings_from_dict({"home_assistant": raw}).home_assistant


@contextlib.asynccontextmanager
async def linked(cfg: HomeAssistantSettings, token: str, seen: list[list[str]]) -> AsyncIterator[HomeAssistantLink]:
    link = HomeAssistantLink(cfg, token, on_devices=lambda devices: seen.append(sorted(d.name for d in devices)))
    task = asyncio.create_task(link.run())
    try:
        yield link
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 5)


async def test_a_new_address_and_token_reconnect_at_once() -> None:
    seen: list[list[str]] = []
    async with server("old") as first, server("new") as second, linked(config(first.url), "old", seen) as link:
        await until(lambda: link.connected, timeout=10, what="connected to the first")
        link.reconfigure(config(second.url), "new")
        assert link.status()["url"] == second.url
        await until(lambda: second.tokens == ["new"] and link.connected, timeout=5, what="the second, at once")
        await until(lambda: not first.open, timeout=5, what="the first session closed")
        assert first.tokens == ["old"] and link.last_error == "" and seen[-1] == ["Garage door", "Lamp"]


async def test_a_new_token_after_a_refused_one_is_tried_at_once() -> None:
    seen: list[list[str]] = []
    async with server("good") as peer, linked(config(peer.url), "stale", seen) as link:
        await until(lambda: link.state == "auth_failed", timeout=10, what="refused")
        link.reconfigure(link.settings, "good")  # the next try would be 60-120 s away
        await until(lambda: link.connected, timeout=5, what="connected with the new token")
        assert peer.tokens == ["stale", "good"]


async def test_a_new_expose_applies_at_once_without_reconnecting() -> None:
    seen: list[list[str]] = []
    async with server("t") as peer, linked(config(peer.url), "t", seen) as link:
        await until(lambda: link.connected, timeout=10, what="connected")
        assert seen == [["Garage door", "Lamp"]]
        link.reconfigure(replace(link.settings, expose=("light",)), "t")
        assert seen[-1] == ["Lamp"] and [d.entity_id for d in link.home.devices] == ["light.lamp"]
        assert "Garage door" in link.home.withheld
        await asyncio.sleep(0.3)
        assert peer.tokens == ["t"] and link.connected  # the same session


async def test_the_feature_applies_a_reload_or_says_it_needs_a_restart(tmp_path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("t\n")

    def settings(**ha: Any):
        raw = {"url": "http://127.0.0.1:9", "token_file": str(token_file), **ha}
        return settings_from_dict({"home_assistant": raw})

    feature = HomeAssistantFeature(settings())
    link = feature.link
    assert feature.apply(settings(url="")) == []  # turned off: a restart
    assert feature.apply(settings(token_file=str(tmp_path / "missing"))) == []  # kept as it was
    assert link.settings == settings().home_assistant
    assert feature.apply(settings(url="http://127.0.0.1:10", expose=["light"])) == ["home_assistant"]
    assert link.settings.url == "http://127.0.0.1:10" and link.settings.expose == ("light",)
    token_file.write_text("rotated\n")
    assert feature.apply(settings(url="http://127.0.0.1:10", expose=["light"])) == ["home_assistant"]
    assert link._token == "rotated"
