"""A real Home Assistant core on this machine: started, onboarded, and a small client for it.

Home Assistant 2025.4.4 runs from its own venv (``scripts/setup --dev`` installs it at
``$APPLIANCE_HA_VENV``, default ``~/.cache/appliance/home-assistant-2025.4.4``, on Python 3.13)
with ``--skip-pip``, so nothing is installed while it runs, in a config dir of the caller's, on
127.0.0.1 and a free port. ``start`` creates the owner user and a long-lived access token (written
to a 0600 file). The benchmarks use it as it is; the tests' ``HomeAssistant`` (tests/ha_support.py)
adds a home of real entities.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode

from websockets.sync.client import ClientConnection, connect

HA_VERSION = "2025.4.4"
INSTALL = "scripts/setup --dev"
START_TIMEOUT_S = 180.0
"""Seconds Home Assistant may take to start and answer (a start takes 3-6 s on two shared cores)."""
CALL_TIMEOUT_S = 60.0
OWNER = {"name": "Test Owner", "username": "owner", "password": "appliance-test-password"}
VOICE_INTEGRATIONS: tuple[str, ...] = ("api", "websocket_api", "auth", "onboarding", "config", "conversation")
VOICE_INTEGRATIONS += ("intent", "assist_pipeline", "stt", "tts", "wake_word", "ffmpeg")
"""What a Home Assistant needs to use Wyoming services (the venv holds their requirements)."""

Core = TypeVar("Core", bound="HaCore")


def ha_venv() -> Path:
    default = Path.home() / ".cache" / "appliance" / f"home-assistant-{HA_VERSION}"
    return Path(os.environ.get("APPLIANCE_HA_VENV") or default)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class HomeAssistantError(RuntimeError):
    """Home Assistant did not start or refused a call; the message ends with its log's tail."""


class HaCore:
    """One running Home Assistant core, onboarded, and a small sync client for it."""

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
        """Seconds from launch to a Home Assistant that answers, ready for use."""
        self.start_errors: list[str] = []
        """The ERROR lines Home Assistant logged while it started (none expected)."""
        self._process: subprocess.Popen[bytes] | None = None
        self._ids = 0

    def configuration(self) -> str:
        """configuration.yaml (written as JSON, which YAML reads): the voice integrations, nothing online."""
        place = {"name": "Bench", "latitude": 52.37, "longitude": 4.89, "elevation": 0, "time_zone": "UTC"}
        config = {
            "homeassistant": place | {"unit_system": "metric", "currency": "EUR", "country": "NL", "language": "en"},
            "http": {"server_host": "127.0.0.1", "server_port": self.port},
            "logger": {"default": "warning"},
        }
        return json.dumps(config | {domain: {} for domain in VOICE_INTEGRATIONS}, indent=1)

    def prepare(self) -> None:
        """Called once onboarded, before ``start`` returns (a subclass furnishes its home here)."""

    # --- life cycle -----------------------------------------------------------------------------
    @classmethod
    def start(cls: type[Core], workdir: Path) -> Core:
        """Start, onboard and prepare Home Assistant; raise ``HomeAssistantError`` if it cannot."""
        ha = cls(workdir)
        hass = ha.venv / "bin" / "hass"
        if not hass.exists():
            raise HomeAssistantError(f"Home Assistant {HA_VERSION} is not installed at {ha.venv}: run `{INSTALL}`")
        began = time.monotonic()
        ha.config_dir.mkdir(parents=True)
        (ha.config_dir / "configuration.yaml").write_text(ha.configuration())
        # Nothing of this Python may leak into Home Assistant's 3.13 interpreter.
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
            ha.prepare()
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
            data, sent["Content-Type"] = urlencode(form).encode(), "application/x-www-form-urlencoded"
        # Always http://127.0.0.1:<port>: this Home Assistant's own loopback address.
        request = urllib.request.Request(self.url + path, data=data, headers=sent, method=method)  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                body = response.read()
        except urllib.error.HTTPError as err:
            detail = err.read().decode(errors="replace")[:500]
            raise HomeAssistantError(f"{method} {path}: HTTP {err.code} {detail}") from err
        if raw:
            return body
        return json.loads(body) if body else None

    @contextlib.contextmanager
    def ws_session(self) -> Iterator[ClientConnection]:
        """An authenticated WebSocket connection (``websockets.sync``), for subscriptions."""
        with connect(self.ws_url, open_timeout=CALL_TIMEOUT_S, max_size=None) as conn:
            if json.loads(conn.recv(timeout=CALL_TIMEOUT_S))["type"] != "auth_required":
                raise HomeAssistantError("the WebSocket API did not ask for auth")
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
        return str(flow["result"]["entry_id"])

    def remove_entry(self, entry_id: str) -> None:
        self.rest("DELETE", f"/api/config/config_entries/entry/{entry_id}")

    def entities_of(self, entry_id: str) -> list[dict[str, Any]]:
        """The entity-registry entries a config entry made."""
        return [e for e in self.ws({"type": "config/entity_registry/list"}) if e["config_entry_id"] == entry_id]
