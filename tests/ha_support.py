"""A real Home Assistant core for the tests: started once per session, onboarded, with a small home.

The ``home_assistant`` fixture (tests/conftest.py) starts Home Assistant 2025.4.4 from its own venv
(``scripts/setup --dev`` installs it at ``$APPLIANCE_HA_VENV``, default
``~/.cache/appliance/home-assistant-2025.4.4``) with ``--skip-pip`` in a temporary config dir, on
127.0.0.1 and a free port; it creates the owner user, gets a long-lived access token (written to a
0600 file) and builds this home out of Home Assistant's own template and helper platforms:

| entity | what | area | exposed to Assist |
|---|---|---|---|
| ``light.kitchen_light`` | dimmable light (brightness 0-255), alias "ceiling light" | kitchen | yes |
| ``light.living_room_lamp`` | on/off light, alias "reading lamp" | living room | yes |
| ``light.hallway_light`` | on/off light | hallway | **no** |
| ``light.porch_light`` | on/off light | none | yes |
| ``cover.garage_door`` | garage door, ``open``/``closed``, alias "garage" | garage | yes |
| ``lock.front_door`` | lock, ``locked``/``unlocked`` | hallway | yes |
| ``sensor.living_room_temperature`` | temperature, °C (21.5 at start) | living room | yes |
| ``scene.movie_time`` | living room lamp on, kitchen light off | living room | yes |
| ``script.good_night`` | every light off, garage door closed, front door locked | none | yes |

Areas ``kitchen``, ``living_room``, ``hallway`` (all on the floor ``downstairs``) and ``garage``.
At start every light is off, the garage door closed, the front door locked; ``reset_home()``
brings that back. The lights, cover and lock keep their state in ``input_boolean``/``input_number``
helpers (not exposed), so a state set through a service is a real state change in Home Assistant.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from appliance.bench.ha_core import (
    CALL_TIMEOUT_S,
    HA_VERSION,
    INSTALL,
    OWNER,
    START_TIMEOUT_S,
    HaCore,
    HomeAssistantError,
    free_port,
    ha_venv,
)

from .ha_home import AREAS, FLOORS, HOME, LIGHTS, configuration

__all__ = [
    "CALL_TIMEOUT_S",
    "HA_VERSION",
    "INSTALL",
    "OWNER",
    "START_TIMEOUT_S",
    "HomeAssistant",
    "HomeAssistantError",
    "free_port",
    "ha_venv",
]


class HomeAssistant(HaCore):
    """Home Assistant (appliance/bench/ha_core.py) with the home above; ``async_*`` run the sync calls in a thread."""

    def configuration(self) -> str:
        return configuration(self.port)

    def prepare(self) -> None:
        self._furnish()

    def _furnish(self) -> None:
        # Onboarding made the areas "Living Room", "Kitchen" and "Bedroom": make the list exactly AREAS.
        made = {area["area_id"] for area in self.ws({"type": "config/area_registry/list"})}
        for area_id in made - AREAS.keys():
            self.ws({"type": "config/area_registry/delete", "area_id": area_id})
        for area_id, name in AREAS.items():
            if area_id in made:
                self.ws({"type": "config/area_registry/update", "area_id": area_id, "name": name})
            else:
                assert self.create_area(name) == area_id
        for floor_id, (name, areas) in FLOORS.items():
            assert self.create_floor(name, areas) == floor_id
        for entity_id, info in HOME.items():
            self.set_entity(entity_id, area=info.get("area"), aliases=info.get("aliases", []))
        self.expose([e for e, info in HOME.items() if info.get("expose", True)], True)
        self.expose([e for e, info in HOME.items() if not info.get("expose", True)], False)

    async def async_ws(self, command: dict[str, Any]) -> Any:
        return await asyncio.to_thread(self.ws, command)

    async def async_rest(self, method: str, path: str, json_body: Any = None, **kwargs: Any) -> Any:
        return await asyncio.to_thread(lambda: self.rest(method, path, json_body, **kwargs))

    # --- states and services --------------------------------------------------------------------
    def state(self, entity_id: str) -> dict[str, Any]:
        """The state object (``state``, ``attributes``, ...) of ``entity_id``."""
        return self.rest("GET", f"/api/states/{entity_id}")

    def wait_state(self, entity_id: str, value: str, timeout: float = 30.0) -> dict[str, Any]:
        """Poll until ``entity_id``'s state is ``value``; its state object (AssertionError on timeout)."""
        deadline = time.monotonic() + timeout
        while True:
            state = self.state(entity_id)
            if state["state"] == value:
                return state
            if time.monotonic() > deadline:
                raise AssertionError(f"{entity_id} is {state['state']!r}, not {value!r}, after {timeout} s")
            time.sleep(0.1)

    async def async_wait_state(self, entity_id: str, value: str, timeout: float = 30.0) -> dict[str, Any]:
        return await asyncio.to_thread(self.wait_state, entity_id, value, timeout)

    def call(self, domain: str, service: str, **data: Any) -> Any:
        """Call a service (``call("light", "turn_on", entity_id="light.kitchen_light")``)."""
        return self.rest("POST", f"/api/services/{domain}/{service}", data)

    def reset_home(self) -> None:
        """Every light off, the garage door closed, the front door locked, 21.5 °C in the living room."""
        helpers = [f"input_boolean.{name}" for name in (*LIGHTS, "garage_door_open")]
        self.call("input_boolean", "turn_off", entity_id=helpers)
        self.call("input_boolean", "turn_on", entity_id="input_boolean.front_door_locked")
        self.call("input_number", "set_value", entity_id="input_number.living_room_temperature", value=21.5)
        self.call("input_number", "set_value", entity_id="input_number.kitchen_light_brightness", value=255)

    async def async_add_entry(self, domain: str, user_input: dict[str, Any], *more_steps: dict[str, Any]) -> str:
        return await asyncio.to_thread(self.add_entry, domain, user_input, *more_steps)

    async def async_remove_entry(self, entry_id: str) -> None:
        await asyncio.to_thread(self.remove_entry, entry_id)

    def entries(self, domain: str) -> list[dict[str, Any]]:
        return self.ws({"type": "config_entries/get", "domain": domain})

    # --- registries and exposure ----------------------------------------------------------------
    def create_area(self, name: str, aliases: list[str] | None = None) -> str:
        return self.ws({"type": "config/area_registry/create", "name": name, "aliases": aliases or []})["area_id"]

    def create_floor(self, name: str, area_ids: tuple[str, ...] = (), level: int = 0) -> str:
        floor_id = self.ws({"type": "config/floor_registry/create", "name": name, "level": level})["floor_id"]
        for area_id in area_ids:
            self.ws({"type": "config/area_registry/update", "area_id": area_id, "floor_id": floor_id})
        return floor_id

    def set_entity(self, entity_id: str, *, area: str | None = None, aliases: list[str] | None = None) -> None:
        """Put ``entity_id`` in ``area`` and give it ``aliases`` (entity registry)."""
        change: dict[str, Any] = {"type": "config/entity_registry/update", "entity_id": entity_id, "area_id": area}
        if aliases is not None:
            change["aliases"] = aliases
        self.ws(change)

    def expose(self, entity_ids: list[str], should_expose: bool) -> None:
        """Expose ``entity_ids`` to Assist (``conversation``), or hide them."""
        if entity_ids:
            command = {"type": "homeassistant/expose_entity", "assistants": ["conversation"]}
            self.ws({**command, "entity_ids": entity_ids, "should_expose": should_expose})
