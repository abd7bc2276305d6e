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
import contextlib
import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect

from .ha_home import AREAS, FLOORS, HOME, LIGHTS, configuration

HA_VERSION = "2025.4.4"
INSTALL = "scripts/setup --dev"
START_TIMEOUT_S = 180.0
"""Seconds Home Assistant may take to start and answer (a start takes 3-6 s on two shared cores)."""
CALL_TIMEOUT_S = 60.0
OWNER = {"name": "Test Owner", "username": "owner", "password": "appliance-test-password"}


def ha_venv() -> Path:
    default = Path.home() / ".cache" / "appliance" / f"home-assistant-{HA_VERSION}"
    return Path(os.environ.get("APPLIANCE_HA_VENV") or default)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class HomeAssistantError(RuntimeError):
    """Home Assistant did not start or refused a call; the message ends with its log's tail."""


class HomeAssistant:
    """One running Home Assistant core and a small client for it (sync; ``async_*`` run in a thread)."""

    def __init__(self, workdir: Path) -> None:
        self.venv = ha_venv()
        self.config_dir = workdir / "config"
        self.log_file = workdir / "home-assistant.log"
        self.token_file = workdir / "token"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}/api/websocket"
        self.token = ""
        self.start_s = 0.0
        """Seconds from launch to a Home Assistant that answers with its home in place."""
        self.start_errors: list[str] = []
        """The ERROR lines Home Assistant logged while it started (none expected)."""
        self._process: subprocess.Popen[bytes] | None = None
        self._ids = 0

    # --- life cycle -----------------------------------------------------------------------------
    @classmethod
    def start(cls, workdir: Path) -> HomeAssistant:
        """Start, onboard and furnish Home Assistant; raise ``HomeAssistantError`` if it cannot."""
        ha = cls(workdir)
        hass = ha.venv / "bin" / "hass"
        if not hass.exists():
            raise HomeAssistantError(f"Home Assistant {HA_VERSION} is not installed at {ha.venv}: run `{INSTALL}`")
        began = time.monotonic()
        ha.config_dir.mkdir(parents=True)
        (ha.config_dir / "configuration.yaml").write_text(configuration(ha.port))
        # Nothing of the tests' Python may leak into Home Assistant's 3.13 interpreter.
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
        with open(ha.log_file, "wb") as log:
            ha._process = subprocess.Popen(
                [str(hass), "-c", str(ha.config_dir), "--skip-pip", "--log-no-color"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        try:
            ha._wait_until_up(began + START_TIMEOUT_S)
            ha._onboard()
            ha._furnish()
        except (HomeAssistantError, OSError) as err:
            ha.stop()
            raise ha.fail(f"Home Assistant did not get ready: {err}") from err
        except BaseException:
            ha.stop()
            raise
        ha.start_s = time.monotonic() - began
        ha.start_errors = ha.errors_since(0)
        return ha

    def stop(self) -> None:
        """Stop Home Assistant (SIGTERM, then SIGKILL after 30 s)."""
        if self._process is None or self._process.poll() is not None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=10)

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_file.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    def log_mark(self) -> int:
        """Where the log ends now, for ``errors_since``."""
        return self.log_file.stat().st_size

    def errors_since(self, mark: int) -> list[str]:
        """The ERROR lines Home Assistant logged after ``mark`` (``log_mark()``)."""
        with open(self.log_file, "rb") as log:
            log.seek(mark)
            return [line for line in log.read().decode(errors="replace").splitlines() if " ERROR (" in line]

    def fail(self, message: str) -> HomeAssistantError:
        return HomeAssistantError(f"{message}\n--- {self.log_file} (tail) ---\n{self.log_tail()}")

    def _wait_until_up(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            if not self.running:
                raise HomeAssistantError("it exited while starting")
            with contextlib.suppress(OSError, HomeAssistantError):
                if self.rest("GET", "/api/onboarding", auth=False) is not None:
                    return
            time.sleep(0.2)
        raise HomeAssistantError(f"no answer within {START_TIMEOUT_S:.0f} s")

    def _onboard(self) -> None:
        client_id = f"{self.url}/"
        user = {**OWNER, "client_id": client_id, "language": "en"}
        code = self.rest("POST", "/api/onboarding/users", user, auth=False)["auth_code"]
        form = {"grant_type": "authorization_code", "code": code, "client_id": client_id}
        self.token = self.rest("POST", "/auth/token", form=form, auth=False)["access_token"]
        self.token = self.ws({"type": "auth/long_lived_access_token", "client_name": "tests", "lifespan": 30})
        self.token_file.touch(mode=0o600)
        self.token_file.write_text(self.token + "\n")

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

    # --- REST and WebSocket ---------------------------------------------------------------------
    def rest(
        self,
        method: str,
        path: str,
        json_body: Any = None,
        *,
        form: dict[str, str] | None = None,
        auth: bool = True,
        raw: bool = False,
        headers: dict[str, str] | None = None,
        data: bytes | None = None,
        timeout: float = CALL_TIMEOUT_S,
    ) -> Any:
        """One REST call: the decoded JSON answer (``raw``: the bytes); ``HomeAssistantError`` on an HTTP error."""
        sent = dict(headers or {})
        if auth:
            sent["Authorization"] = f"Bearer {self.token}"
        if json_body is not None:
            data, sent["Content-Type"] = json.dumps(json_body).encode(), "application/json"
        elif form is not None:
            from urllib.parse import urlencode

            data, sent["Content-Type"] = urlencode(form).encode(), "application/x-www-form-urlencoded"
        request = urllib.request.Request(self.url + path, data=data, headers=sent, method=method)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                body = response.read()
        except urllib.error.HTTPError as err:
            detail = err.read().decode(errors="replace")[:500]
            raise HomeAssistantError(f"{method} {path}: HTTP {err.code} {detail}") from err
        if raw:
            return body
        return json.loads(body) if body else None

    @contextlib.contextmanager
    def ws_session(self) -> Any:
        """An authenticated WebSocket connection (``websockets.sync``), for subscriptions."""
        with connect(self.ws_url, open_timeout=CALL_TIMEOUT_S, max_size=None) as conn:
            assert json.loads(conn.recv(timeout=CALL_TIMEOUT_S))["type"] == "auth_required"
            conn.send(json.dumps({"type": "auth", "access_token": self.token}))
            answer = json.loads(conn.recv(timeout=CALL_TIMEOUT_S))
            if answer["type"] != "auth_ok":
                raise HomeAssistantError(f"WebSocket auth refused: {answer}")
            yield conn

    def send(self, conn: ClientConnection, command: dict[str, Any]) -> int:
        """Send ``command`` with a fresh id on ``conn``; the id."""
        self._ids += 1
        conn.send(json.dumps({**command, "id": self._ids}))
        return self._ids

    def ws(self, command: dict[str, Any], *, timeout: float = CALL_TIMEOUT_S) -> Any:
        """One WebSocket command on its own connection: its ``result``; ``HomeAssistantError`` if refused."""
        with self.ws_session() as conn:
            sent = self.send(conn, command)
            deadline = time.monotonic() + timeout
            while True:
                answer = json.loads(conn.recv(timeout=max(0.1, deadline - time.monotonic())))
                if answer.get("id") == sent and answer["type"] == "result":
                    break
        if not answer["success"]:
            raise HomeAssistantError(f"{command['type']}: {answer['error']}")
        return answer["result"]

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

    # --- config entries -------------------------------------------------------------------------
    def add_entry(self, domain: str, user_input: dict[str, Any], *more_steps: dict[str, Any]) -> str:
        """Add an integration by its config flow, answering its forms with ``user_input``, then each of
        ``more_steps`` (e.g. an encryption key form): the new entry's id."""
        flow = self.rest("POST", "/api/config/config_entries/flow", {"handler": domain, "show_advanced_options": False})
        answers = [user_input, *more_steps]
        while flow["type"] == "form" and answers:
            flow = self.rest("POST", f"/api/config/config_entries/flow/{flow['flow_id']}", answers.pop(0))
        if flow["type"] != "create_entry":
            raise self.fail(f"the {domain} config flow did not create an entry: {flow}")
        return flow["result"]["entry_id"]

    async def async_add_entry(self, domain: str, user_input: dict[str, Any], *more_steps: dict[str, Any]) -> str:
        return await asyncio.to_thread(self.add_entry, domain, user_input, *more_steps)

    def remove_entry(self, entry_id: str) -> None:
        self.rest("DELETE", f"/api/config/config_entries/entry/{entry_id}")

    async def async_remove_entry(self, entry_id: str) -> None:
        await asyncio.to_thread(self.remove_entry, entry_id)

    def entries(self, domain: str) -> list[dict[str, Any]]:
        return self.ws({"type": "config_entries/get", "domain": domain})

    def entities_of(self, entry_id: str) -> list[dict[str, Any]]:
        """The entity-registry entries a config entry made."""
        return [e for e in self.ws({"type": "config/entity_registry/list"}) if e["config_entry_id"] == entry_id]

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
