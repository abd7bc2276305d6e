"""The link to Home Assistant: connected, loaded and kept current, with jittered reconnects.

:meth:`HomeAssistantLink.run` is the feature's supervised loop. Each session
subscribes to state changes and registry updates, then reads the states, the
entity, device, area and floor registries and what is exposed to Assist, and
hands the devices to home control (``on_devices``). A state change updates the
readings at once; a registry update (or a new or renamed entity) reloads, once
per :data:`RELOAD_DELAY_S`. A reload of the settings (:meth:`HomeAssistantLink.reconfigure`) applies
``expose`` at once and reconnects for anything else. It is also home control's
:class:`~appliance.home.assistant.Assistant`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from appliance.home.assistant import HaDevice, HomeAssistantError, Reading
from appliance.home.remote import service_data, service_name
from appliance.integrations.home_assistant.client import Connection
from appliance.integrations.home_assistant.entities import Home, Registries, build, reading, withheld
from appliance.settings import HomeAssistantSettings

_LOGGER = logging.getLogger(__name__)

EVENTS = (
    "state_changed",
    "entity_registry_updated",
    "device_registry_updated",
    "area_registry_updated",
    "floor_registry_updated",
)
RELOAD_DELAY_S = 0.5
"""Registry updates come in bursts (an integration adding ten entities): one reload after the last."""
RETRY_MIN_S = 1.0
MAX_SPEECH = 1000
"""Characters of Home Assistant's spoken answer that are read out."""


class HomeAssistantLink:
    """Home Assistant's exposed entities, their states, service calls and its conversation agent."""

    def __init__(
        self,
        settings: HomeAssistantSettings,
        token: str,
        *,
        on_devices: Callable[[Sequence[HaDevice]], None],
        language: str = "en",
    ) -> None:
        self.settings = settings
        self._token = token
        self._on_devices = on_devices
        self._language = language
        self.state = "connecting"
        """connecting, connected or auth_failed."""
        self.last_error = ""
        self.home = Home()
        self.readings: dict[str, Reading] = {}
        self.version = ""
        self._connection: Connection | None = None
        self._open: Connection | None = None
        """The connection from the moment it is logged in (``_connection`` once it is subscribed and loaded)."""
        self._reload: asyncio.TimerHandle | None = None
        self._reloading: asyncio.Task[None] | None = None
        self._registries: Registries | None = None
        self._generation = 0
        """Counts :meth:`reconfigure` calls: a session opened with older settings is closed at once."""
        self._retry = asyncio.Event()
        """Set by :meth:`reconfigure`: the next connection is made now, not after the back-off."""
        self._closing: set[asyncio.Task[None]] = set()

    # -- the Assistant port ----------------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self._connection is not None and self.state == "connected"

    def reading(self, entity_id: str) -> Reading | None:
        return self.readings.get(entity_id)

    async def act(self, device: HaDevice, action: str, brightness: int | None = None) -> None:
        if device.entity_id not in {d.entity_id for d in self.home.devices}:  # exposure may have changed since
            raise HomeAssistantError("ha-not-exposed", f"{device.name} is not exposed to Assist")
        call = {
            "type": "call_service",
            "domain": device.domain,
            "service": service_name(device.domain, action, brightness),
            "service_data": service_data(device, action, brightness),
            "target": {"entity_id": device.entity_id},
        }
        await self._command(call)

    async def converse(self, text: str) -> str:
        result = await self._command({"type": "conversation/process", "text": text[:1000], "language": self._language})
        speech = _path(result, "response", "speech", "plain", "speech")
        if not isinstance(speech, str) or not speech.strip():
            raise HomeAssistantError("ha-protocol", "Home Assistant's agent said nothing")
        return speech.strip()[:MAX_SPEECH]

    def withheld(self, text: str) -> str:
        return withheld(self.home, text)

    async def _command(self, payload: Mapping[str, Any]) -> Any:
        connection = self._connection
        if connection is None or self.state != "connected":
            raise HomeAssistantError("ha-unreachable", "not connected to Home Assistant")
        return await connection.command(payload)

    # -- the session -----------------------------------------------------------------------------------------
    async def run(self) -> None:
        """Connect, load and follow Home Assistant until cancelled; reconnect with jittered backoff."""
        delay = RETRY_MIN_S
        while True:
            s, generation = self.settings, self._generation
            started = time.monotonic()
            try:
                connection = await Connection.open(
                    s.websocket_url,
                    self._token,
                    timeout_s=s.connect_timeout_s,
                    request_timeout_s=s.request_timeout_s,
                    max_bytes=int(s.max_message_mb * 1_000_000),
                )
                self._open = connection
                if generation == self._generation:  # else reconfigured while it connected: start again
                    await self._session(connection)
                await connection.close()
                self.last_error = "ha-disconnected" if generation == self._generation else ""
            except HomeAssistantError as err:
                self.last_error = err.code
                _LOGGER.warning("Home Assistant at %s: %s (%s)", s.url, err.code, err.message)
            except Exception:  # an answer shaped unlike Home Assistant's: logged, and connected again later
                self.last_error = "ha-protocol"
                _LOGGER.exception("Home Assistant at %s sent what could not be read", s.url)
            finally:
                self._connection = self._open = None
                self._cancel_reload()
            self.state = "auth_failed" if self.last_error == "ha-auth" else "connecting"
            if time.monotonic() - started > s.retry_max_s or self._retry.is_set():  # up a while, or new settings
                delay = RETRY_MIN_S
            wait = s.retry_max_s if self.state == "auth_failed" else delay
            await self._pause(0.0 if self._retry.is_set() else wait * random.uniform(0.5, 1.0))
            delay = min(delay * 2, self.settings.retry_max_s)

    async def _pause(self, seconds: float) -> None:
        """Wait before the next connection, unless :meth:`reconfigure` asks for it now."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._retry.wait(), seconds)
        self._retry.clear()

    def reconfigure(self, settings: HomeAssistantSettings, token: str) -> None:
        """Reloaded settings and token (on the event loop): ``expose`` applies to what was last read at once;
        a new address, token, timeout or size ends the session, and the next one starts at once with them."""
        old, self.settings = self.settings, settings
        if settings.expose != old.expose and self._registries is not None:
            self._use(build(self._registries, settings.domains, settings.areas))
        if replace(settings, expose=old.expose) == old and token == self._token:
            return
        self._token = token
        self._generation += 1
        self._retry.set()
        self.state, self._connection = "connecting", None  # nothing is sent on the old session from now on
        if self._open is not None:
            closing = asyncio.get_running_loop().create_task(self._open.close(), name="home-assistant-close")
            self._closing.add(closing)
            closing.add_done_callback(self._closing.discard)
        _LOGGER.info("Home Assistant's settings changed: connecting to %s again", settings.url)

    async def _session(self, connection: Connection) -> None:
        reader = asyncio.create_task(connection.run(self._on_event), name="home-assistant-reader")
        try:
            for event in EVENTS:
                await connection.command({"type": "subscribe_events", "event_type": event})
            self._connection = connection
            await self._load(connection)
            self.state, self.last_error, self.version = "connected", "", connection.version
            _LOGGER.info(
                "Home Assistant %s: %d entities, %d usable", connection.version, self.home.known, len(self.home.devices)
            )
            await reader
        finally:
            reader.cancel()
            await connection.close()

    async def _load(self, connection: Connection) -> None:
        """Read everything once and hand the devices on."""
        queries = [
            "get_states",
            "config/entity_registry/list",
            "config/device_registry/list",
            "config/area_registry/list",
            "config/floor_registry/list",
            "homeassistant/expose_entity/list",
        ]
        states, entities, devices, areas, floors, exposed = await asyncio.gather(
            *(connection.command({"type": q}) for q in queries)
        )
        exposed_map = _path(exposed, "exposed_entities")
        exposed_map = exposed_map if isinstance(exposed_map, Mapping) else {}
        shown = [e for e, v in exposed_map.items() if isinstance(v, Mapping) and v.get("conversation") is True]
        aliases: Any = {}
        if shown:
            aliases = await connection.command({"type": "config/entity_registry/get_entries", "entity_ids": shown})
        registries = Registries(
            states=_rows(states),
            entities=_rows(entities),
            devices=_rows(devices),
            areas=_rows(areas),
            floors=_rows(floors),
            exposed=exposed_map,
            aliases={
                str(k): [a for a in v.get("aliases") or () if isinstance(a, str)]
                for k, v in (aliases if isinstance(aliases, Mapping) else {}).items()
                if isinstance(v, Mapping)
            },
        )
        self.readings = {str(s.get("entity_id")): r for s in registries.states if (r := reading(s)) is not None}
        self._registries = registries
        self._use(await asyncio.to_thread(build, registries, self.settings.domains, self.settings.areas))

    def _use(self, home: Home) -> None:
        self.home = home
        self._on_devices(home.devices)

    def _on_event(self, event: Mapping[str, Any]) -> None:
        data = event.get("data")
        data = data if isinstance(data, Mapping) else {}
        if event.get("event_type") != "state_changed":
            self._schedule_reload()
            return
        entity_id = str(data.get("entity_id", ""))
        new = data.get("new_state")
        old = self.readings.get(entity_id)
        found = reading(new) if isinstance(new, Mapping) else None
        if found is None:
            self.readings.pop(entity_id, None)
        else:
            self.readings[entity_id] = found
        if old is None or found is None:
            changed = old is not found
        else:
            changed = old.attributes.get("friendly_name") != found.attributes.get("friendly_name")
        if changed:  # an entity came, went or was renamed
            self._schedule_reload()

    def _schedule_reload(self) -> None:
        if self._connection is None or self.state != "connected":  # the load under way reads it anyway
            return
        self._cancel_reload()
        loop = asyncio.get_running_loop()
        self._reload = loop.call_later(RELOAD_DELAY_S, self._start_reload)

    def _start_reload(self) -> None:
        connection = self._connection
        if connection is None or (self._reloading is not None and not self._reloading.done()):
            return
        self._reloading = asyncio.create_task(self._reload_from(connection), name="home-assistant-reload")

    async def _reload_from(self, connection: Connection) -> None:
        try:
            await self._load(connection)
        except HomeAssistantError as err:
            _LOGGER.warning("Reloading Home Assistant's entities failed: %s", err.code)

    def _cancel_reload(self) -> None:
        if self._reload is not None:
            self._reload.cancel()
            self._reload = None

    def status(self) -> dict[str, Any]:
        """Connection state, url, entities known, exposed and usable, the last error code; never the token."""
        return {
            "connection": self.state,
            "url": self.settings.url,
            "version": self.version,
            "entities": self.home.known,
            "exposed": self.home.exposed,
            "devices": len(self.home.devices),
            "last_error": self.last_error,
        }


def _rows(value: Any) -> list[Mapping[str, Any]]:
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def _path(value: Any, *keys: str) -> Any:
    for key in keys:
        value = value.get(key) if isinstance(value, Mapping) else None
    return value
