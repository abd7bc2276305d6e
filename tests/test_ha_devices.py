"""The home's devices from a real Home Assistant (tests/ha_support.py) in the real appliance (real engines).

Requests go through ``ask`` as a command does (the whole turn: the sentence matcher, home control, the
intent's action); every change is checked in Home Assistant itself. Home Assistant going away is a TCP
relay between the two closing and opening again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import statistics
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.asyncio.client import connect

from appliance.home.assistant import UNREACHABLE
from appliance.integrations.home_assistant.feature import HomeAssistantFeature
from appliance.runtime.app import Appliance
from appliance.settings import load_settings, settings_from_dict
from appliance.understanding.feature import UnderstandingFeature
from appliance.understanding.semantic import SemanticFeature

from .fakes import until
from .ha_support import HomeAssistant, free_port
from .mqtt_support import DEVICE, ROOT, Probe, running

pytestmark = [pytest.mark.integration, pytest.mark.mqtt, pytest.mark.timeout(600)]

FAN = {"name": "bedroom fan", "area": "bedroom", "kind": "fan", "command_topic": "home/bedroom/fan/set"}


def settings(tmp_path, url: str, token_file, broker_port: int | None = None, **ha: Any):
    raw: dict[str, Any] = {
        "device": {"id": DEVICE, "name": "Test speaker"},
        "paths": {"state_dir": str(tmp_path / "state"), "runtime_dir": str(tmp_path / "state" / "run")},
        "rooms": {"area": "Living room"},
        "home_assistant": {"url": url, "token_file": str(token_file), "retry_max_s": 2.0, **ha},
    }
    if broker_port is not None:
        raw["mqtt"] = {"host": "127.0.0.1", "port": broker_port, "reconnect_min_s": 0.2, "devices": [FAN]}
    return settings_from_dict(raw)


def link_of(app: Appliance):
    feature = app.feature(HomeAssistantFeature)
    assert feature is not None
    return feature.link


@contextlib.asynccontextmanager
async def appliance(tmp_path, url: str, ha: HomeAssistant, engines, registry, **kw: Any) -> AsyncIterator[Appliance]:
    async with running(settings(tmp_path, url, ha.token_file, **kw), engines, registry) as app:
        await until(lambda: link_of(app).connected, timeout=60, what="connected to Home Assistant")
        yield app


async def ask(app: Appliance, text: str) -> str:
    answer = await asyncio.wait_for(app.controller.ask(text, speak=False), 60)
    return answer.reply


async def test_exposed_entities_appear_as_devices_and_status_shows_the_link(
    tmp_path, home_assistant: HomeAssistant, engines, registry
):
    ha = home_assistant
    async with appliance(tmp_path, ha.url, ha, engines, registry) as app:
        status = app.controller.status()["home_assistant"]
        assert status | {"version": ""} == {
            "connection": "connected",
            "url": ha.url,
            "version": "",
            "entities": status["entities"],
            "exposed": 8,
            "devices": 8,
            "last_error": "",
        }
        assert ha.token not in json.dumps(app.controller.status())
        matcher = app.feature(UnderstandingFeature).matcher  # type: ignore[union-attr]
        words = {d.name: d for d in matcher.vocabulary.devices}
        assert {"kitchen light", "garage door", "front door", "movie time", "good night"} <= set(words)
        assert words["kitchen light"].aliases == ("ceiling light",) and words["kitchen light"].floor == "downstairs"
        assert "hallway light" not in words  # not exposed to Assist
        assert {"kitchen", "living room", "garage", "hallway"} <= set(matcher.vocabulary.areas)
        listed = {d["name"]: d for d in (await app.commands.execute("home.devices"))["devices"]}
        assert listed["Garage door"] | {"area": ""} == {
            "name": "Garage door",
            "area": "",
            "kind": "cover",
            "entity_id": "cover.garage_door",
            "state": "closed",
            "on": None,
            "brightness": None,
        }


async def test_requests_change_home_assistants_states(tmp_path, home_assistant: HomeAssistant, engines, registry):
    ha = home_assistant
    try:
        async with appliance(tmp_path, ha.url, ha, engines, registry) as app:
            assert await ask(app, "Turn on the kitchen light.") == "I turned on the Kitchen light."
            assert ha.state("light.kitchen_light")["state"] == "on"  # confirmed before it was said
            assert await ask(app, "Set the kitchen light to 30 percent.") == "I set the Kitchen light to 30 percent."
            assert ha.state("light.kitchen_light")["attributes"]["brightness"] in (76, 77)
            await until(lambda: link_of(app).reading("light.kitchen_light").brightness == 30, what="state event")
            assert await ask(app, "Make the kitchen light brighter.") == "I set the Kitchen light to 50 percent."
            assert ha.state("light.kitchen_light")["attributes"]["brightness"] in (127, 128)
            assert await ask(app, "Open the garage door.") == "I opened the Garage door."
            assert ha.state("cover.garage_door")["state"] == "open"
            await until(lambda: link_of(app).reading("cover.garage_door").state == "open", what="state event")
            assert await ask(app, "Is the garage door open?") == "The Garage door is open."
            assert await ask(app, "Unlock the front door.") == "I unlocked the Front door."
            assert ha.state("lock.front_door")["state"] == "unlocked"
            assert await ask(app, "Lock the front door.") == "I locked the Front door."
            await until(lambda: link_of(app).reading("lock.front_door").state == "locked", what="state event")
            assert await ask(app, "Is the front door locked?") == "The Front door is locked."
            said = await ask(app, "What's the temperature in the living room?")
            assert said == "The Living room temperature is 21.5 degrees Celsius."
            assert await ask(app, "Is the kitchen light on?") == "The Kitchen light is on, at 50 percent."
            assert await ask(app, "Activate movie time.") == "I activated Movie time."
            await ha.async_wait_state("light.living_room_lamp", "on", 10)
            assert await ask(app, "Close the garage door.") == "I closed the Garage door."
            assert ha.state("cover.garage_door")["state"] == "closed"
    finally:
        ha.reset_home()


async def test_registry_changes_and_exposure_are_followed(tmp_path, home_assistant: HomeAssistant, engines, registry):
    ha = home_assistant
    try:
        async with appliance(tmp_path, ha.url, ha, engines, registry) as app:
            matcher = app.feature(UnderstandingFeature).matcher  # type: ignore[union-attr]

            def aliases() -> tuple[str, ...]:
                return next(d.aliases for d in matcher.vocabulary.devices if d.name == "kitchen light")

            await ha.async_ws(
                {"type": "config/entity_registry/update", "entity_id": "light.kitchen_light", "aliases": ["big light"]}
            )
            await until(lambda: aliases() == ("big light",), timeout=15, what="the new alias")
            assert await ask(app, "Turn on the big light.") == "I turned on the Kitchen light."
            await ha.async_wait_state("light.kitchen_light", "on", 10)
            await asyncio.to_thread(ha.expose, ["light.porch_light"], False)
            await until(lambda: "Porch light" in link_of(app).home.withheld, timeout=15, what="porch light withheld")
            assert await ask(app, "Turn on the porch light.") == "I'm not allowed to control the Porch light."
            assert ha.state("light.porch_light")["state"] == "off"
    finally:
        ha.set_entity("light.kitchen_light", area="kitchen", aliases=["ceiling light"])
        ha.expose(["light.porch_light"], True)
        ha.reset_home()


async def test_an_entity_not_exposed_is_never_acted_on(tmp_path, home_assistant: HomeAssistant, engines, registry):
    ha = home_assistant
    async with appliance(tmp_path, ha.url, ha, engines, registry) as app:
        for text in ("Turn on the hallway light.", "Switch the hallway light on please."):
            assert await ask(app, text) == "I'm not allowed to control the Hallway light."
        assert ha.state("light.hallway_light")["state"] == "off"
        with pytest.raises(Exception, match="not exposed"):
            hidden = next(d for d in link_of(app).home.devices if d.entity_id == "light.kitchen_light")
            await link_of(app).act(type(hidden)(**{**hidden.__dict__, "entity_id": "light.hallway_light"}), "on")
        assert ha.state("light.hallway_light")["state"] == "off"


async def test_what_the_appliance_cannot_place_is_answered_by_home_assistants_agent(
    tmp_path, home_assistant: HomeAssistant, engines, registry
):
    ha = home_assistant
    async with appliance(tmp_path, ha.url, ha, engines, registry) as app:
        for text in ("Turn on the garden sprinkler.", "Set the temperature in the living room to 20 degrees."):
            theirs = ha.ws({"type": "conversation/process", "text": text, "language": "en"})
            said = theirs["response"]["speech"]["plain"]["speech"]
            answer = await asyncio.wait_for(app.controller.ask(text, speak=False), 60)
            assert (answer.intent, answer.reply) == ("home.assistant", said)


async def test_loose_phrasings_place_home_assistants_entities(
    tmp_path, home_assistant: HomeAssistant, engines, registry
):
    """The semantic layer knows Home Assistant's entities by name, as they load."""
    ha = home_assistant
    try:
        async with appliance(tmp_path, ha.url, ha, engines, registry) as app:
            await asyncio.wait_for(app.feature(SemanticFeature).loaded(), 60)  # type: ignore[union-attr]
            await asyncio.to_thread(ha.call, "cover", "open_cover", entity_id="cover.garage_door")
            await until(lambda: link_of(app).reading("cover.garage_door").state == "open", what="garage open")
            answer = await asyncio.wait_for(app.controller.ask("Could you get the garage door shut?", speak=False), 60)
            assert (answer.intent, answer.reply) == ("home.off", "I closed the Garage door.")
            assert ha.state("cover.garage_door")["state"] == "closed"
    finally:
        ha.reset_home()


async def test_area_and_floor_aliases_name_places(tmp_path, home_assistant: HomeAssistant, engines, registry):
    """An alias given to an area or a floor in Home Assistant's registries is a name of that place, at once."""
    ha = home_assistant
    try:
        async with appliance(tmp_path, ha.url, ha, engines, registry) as app:
            matcher = app.feature(UnderstandingFeature).matcher  # type: ignore[union-attr]
            area = {"type": "config/area_registry/update", "area_id": "living_room"}
            floor = {"type": "config/floor_registry/update", "floor_id": "downstairs"}
            await ha.async_ws({**area, "aliases": ["lounge"]})
            await ha.async_ws({**floor, "aliases": ["ground floor"]})
            await until(
                lambda: any(d.floor_aliases == ("ground floor",) for d in matcher.vocabulary.devices),
                timeout=15,
                what="the aliases in the slot lists",
            )
            await asyncio.to_thread(ha.call, "light", "turn_on", entity_id="light.living_room_lamp")
            await until(lambda: link_of(app).reading("light.living_room_lamp").state == "on", what="lamp on")
            assert await ask(app, "Turn off the lights in the lounge.") == "I turned off the Living room lamp."
            assert ha.state("light.living_room_lamp")["state"] == "off"
            said = await ask(app, "What's the temperature in the lounge?")
            assert said == "The Living room temperature is 21.5 degrees Celsius."
            await ask(app, "Turn on the lights on the ground floor.")
            assert ha.state("light.kitchen_light")["state"] == "on"
            assert ha.state("light.living_room_lamp")["state"] == "on"
            assert ha.state("light.hallway_light")["state"] == "off"  # downstairs too, but not exposed
    finally:
        ha.ws({"type": "config/area_registry/update", "area_id": "living_room", "aliases": []})
        ha.ws({"type": "config/floor_registry/update", "floor_id": "downstairs", "aliases": []})
        ha.reset_home()


async def test_a_reloaded_section_is_applied_live_or_said_to_need_a_restart(
    tmp_path, home_assistant: HomeAssistant, engines, registry
):
    """``appliance reload``: a new url and expose reconnect at once; turning it off needs a restart."""
    ha = home_assistant
    relay = Relay(ha.port)
    await relay.open()
    config = tmp_path / "appliance.toml"
    head = (
        f'[device]\nid = "{DEVICE}"\n[paths]\nstate_dir = "{tmp_path / "state"}"\n'
        f'runtime_dir = "{tmp_path / "state" / "run"}"\n'
        f'[home_assistant]\ntoken_file = "{ha.token_file}"\nretry_max_s = 2.0\n'
    )
    config.write_text(head + f'url = "http://127.0.0.1:{relay.port}"\nexpose = ["light"]\n')
    try:
        async with running(load_settings(config, env={}), engines, registry) as app:
            app.controller.config_path = config
            await until(lambda: link_of(app).connected, timeout=60, what="connected through the relay")
            assert await ask(app, "Open the garage door.") == "I'm not allowed to control the Garage door."
            config.write_text(head + f'url = "{ha.url}"\n')
            report = await app.reload()
            assert "home_assistant" in report["applied"] and "home_assistant" not in report["needs_restart"]
            assert app.controller.status()["home_assistant"]["url"] == ha.url
            await until(lambda: link_of(app).connected, timeout=30, what="connected directly")
            await relay.cut()  # the old way in is gone: the new url is the one used
            assert await ask(app, "Open the garage door.") == "I opened the Garage door."
            assert ha.state("cover.garage_door")["state"] == "open"
            config.write_text(head + 'url = ""\n')
            report = await app.reload()
            assert "home_assistant" in report["needs_restart"] and "home_assistant" not in report["applied"]
            assert link_of(app).connected  # going on as it was until the restart
    finally:
        with contextlib.suppress(Exception):
            await relay.cut()
        ha.reset_home()


class Relay:
    """A TCP relay to Home Assistant that can be cut (Home Assistant "stopped") and restored."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.server: asyncio.Server | None = None
        self.writers: list[asyncio.StreamWriter] = []

    async def open(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def cut(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self.writers:
            writer.close()
        await self.server.wait_closed()
        self.writers.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self.writers += [writer, up_writer]

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


async def test_home_assistant_away_is_said_local_devices_keep_working_and_it_comes_back(
    tmp_path, home_assistant: HomeAssistant, engines, registry, mosquitto
):
    ha = home_assistant
    relay = Relay(ha.port)
    await relay.open()
    url = f"http://127.0.0.1:{relay.port}"
    try:
        with Probe(mosquitto.port) as hub:
            async with appliance(tmp_path, url, ha, engines, registry, broker_port=mosquitto.port) as app:
                await until(lambda: app.mqtt is not None and app.mqtt.connected, what="broker")
                assert await ask(app, "Turn on the porch light.") == "I turned on the Porch light."
                await relay.cut()
                await until(lambda: not link_of(app).connected, timeout=30, what="the link noticing")
                assert await ask(app, "Turn off the porch light.") == UNREACHABLE
                assert ha.state("light.porch_light")["state"] == "on"
                assert await ask(app, "Turn on the bedroom fan.") == "I turned on the bedroom fan."
                assert (await hub.next("home/bedroom/fan/set", timeout=10)).payload == b"ON"
                assert app.controller.status()["home_assistant"]["connection"] == "connecting"
                health = (
                    await hub.next(
                        f"{ROOT}/state/health", lambda m: "home_assistant" in m.json().get("integrations", {})
                    )
                ).json()
                assert set(health["integrations"]["home_assistant"]) == {
                    "connection",
                    "entities",
                    "exposed",
                    "last_error",
                }
                assert ha.token not in json.dumps(health)
                await relay.open()
                await until(lambda: link_of(app).connected, timeout=30, what="reconnected")
                assert await ask(app, "Turn off the porch light.") == "I turned off the Porch light."
                assert ha.state("light.porch_light")["state"] == "off"
    finally:
        with contextlib.suppress(Exception):
            await relay.cut()
        ha.reset_home()


async def test_a_refused_token_is_a_status_not_a_crash(tmp_path, home_assistant: HomeAssistant, engines, registry):
    wrong = tmp_path / "wrong-token"
    wrong.write_text("not.a.token\n")
    s = settings(tmp_path, home_assistant.url, wrong)
    async with running(s, engines, registry) as app:
        await until(lambda: link_of(app).state == "auth_failed", timeout=30, what="auth failed")
        status = app.controller.status()["home_assistant"]
        assert status["last_error"] == "ha-auth" and "not.a.token" not in json.dumps(status)
        assert await ask(app, "Turn on the kitchen light.") == UNREACHABLE


async def test_figures_request_to_state_change_and_recognition_with_the_entities(
    tmp_path, home_assistant: HomeAssistant, engines, registry, record_property
):
    """Measured: ``ask`` -> Home Assistant's state_changed event for the porch light, p50 over 20; and the
    sentence matcher's time per request with Home Assistant's entities in its lists."""
    ha = home_assistant
    try:
        async with (
            appliance(tmp_path, ha.url, ha, engines, registry) as app,
            connect(ha.ws_url, max_size=None) as watch,
        ):
            json.loads(await watch.recv())
            await watch.send(json.dumps({"type": "auth", "access_token": ha.token}))
            json.loads(await watch.recv())
            await watch.send(json.dumps({"id": 1, "type": "subscribe_events", "event_type": "state_changed"}))
            json.loads(await watch.recv())
            seen: list[tuple[float, str]] = []

            async def watching() -> None:  # timestamps each porch light change as it arrives
                async for raw in watch:
                    data = json.loads(raw).get("event", {}).get("data", {})
                    if data.get("entity_id") == "light.porch_light":
                        seen.append((time.perf_counter(), data["new_state"]["state"]))

            watcher = asyncio.create_task(watching())
            delays = []
            for i in range(20):
                action = "on" if i % 2 == 0 else "off"
                started, count = time.perf_counter(), len(seen)
                assert await ask(app, f"Turn {action} the porch light.") == f"I turned {action} the Porch light."
                await until(lambda a=action, n=count: any(v == a for _, v in seen[n:]), what="state_changed")
                delays.append(next(t for t, v in seen[count:] if v == action) - started)
            watcher.cancel()
            matcher = app.feature(UnderstandingFeature).matcher  # type: ignore[union-attr]
            texts = [
                "turn on the kitchen light",
                "open the garage door",
                "is the front door locked",
                "what's the temperature in the living room",
                "set the kitchen light to 40 percent",
                "activate movie time",
                "set a timer for ten minutes",
                "what's the capital of france",
            ]
            times = []
            for _ in range(10):
                for text in texts:
                    began = time.perf_counter()
                    matcher.recognize(text)
                    times.append(time.perf_counter() - began)
        p50 = statistics.median(delays) * 1000
        rec50, rec99 = statistics.median(times) * 1000, sorted(times)[int(len(times) * 0.99) - 1] * 1000
        record_property("request_to_state_p50_ms", round(p50, 1))
        print(f"request -> HA state changed: p50 {p50:.1f} ms, max {max(delays) * 1000:.1f} ms (n={len(delays)})")
        print(f"recognition with HA entities: p50 {rec50:.2f} ms, p99 {rec99:.2f} ms (n={len(times)})")
        assert p50 < 1000
    finally:
        ha.reset_home()
