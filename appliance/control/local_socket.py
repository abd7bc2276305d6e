"""The local control socket: JSON lines over a Unix socket in the runtime dir.

Request:  ``{"id": 1, "cmd": "say", "args": {"text": "hello"}}``
Reply:    ``{"id": 1, "ok": true, "result": {...}}`` or
          ``{"id": 1, "ok": false, "error": {"code": "bad-arguments", "message": "..."}}``

The socket is created mode 0600 (owner only): SSH users reach it as the
service user or root.  Lines are capped at 64 KiB.  At most ``control.max_clients`` are
connected at once (one more gets a ``too-many-clients`` error line and is closed), and a
client that sends no request for ``control.idle_timeout_s`` is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
from pathlib import Path
from typing import Any

from appliance.control import payload
from appliance.control.authorization import CommandPolicy, socket_policy
from appliance.control.commands import Commands
from appliance.core.errors import ApplianceError, CommandError, ControlError
from appliance.settings import ControlSettings

_LOGGER = logging.getLogger(__name__)

MAX_LINE = 64 * 1024


class ControlServer:
    """Serves :class:`Commands` on a Unix socket."""

    def __init__(
        self,
        path: Path,
        commands: Commands,
        policy: CommandPolicy | None = None,
        *,
        idle_timeout_s: float = ControlSettings.idle_timeout_s,
        max_clients: int = ControlSettings.max_clients,
    ) -> None:
        self.path = path
        self.commands = commands
        self.idle_timeout_s = idle_timeout_s
        self.max_clients = max_clients
        self.clients = 0
        """Connected now."""
        self._server: asyncio.AbstractServer | None = None
        self.policy = policy or socket_policy()
        """Local users are trusted by the socket's file mode, so by default everything is allowed."""
        self.requests = 0

    async def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if self.path.exists() or self.path.is_symlink():
            if _answers(self.path):
                raise ControlError("socket-in-use", f"another daemon is serving {self.path}")
            self.path.unlink()
        old = os.umask(0o177)
        try:
            self._server = await asyncio.start_unix_server(self._client, path=str(self.path), limit=MAX_LINE)
        finally:
            os.umask(old)
        _LOGGER.info("Control socket at %s", self.path)

    async def serve(self) -> None:
        await self.start()
        assert self._server is not None
        try:
            await self._server.serve_forever()
        finally:
            await self.close()

    async def serve_forever(self) -> None:
        """Serve the socket :meth:`start` opened (opening it again if a restart closed it)."""
        if self._server is None:
            await self.start()
        assert self._server is not None
        await self._server.serve_forever()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.clients >= self.max_clients:
            self._refuse(writer)
            return
        self.clients += 1
        try:
            while True:
                try:
                    line = await asyncio.wait_for(reader.readline(), self.idle_timeout_s)
                except ValueError:  # longer than MAX_LINE; closing sends what was written
                    writer.write(_line(_error(None, "too-long", f"request lines are limited to {MAX_LINE} bytes")))
                    return
                if not line:
                    return
                reply = await self.handle_line(line)  # however long the command takes: it is not idle time
                writer.write(_line(reply))
                await asyncio.wait_for(writer.drain(), self.idle_timeout_s)  # nor may a client that reads nothing
        except (asyncio.TimeoutError, ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            self.clients -= 1
            writer.close()

    def _refuse(self, writer: asyncio.StreamWriter) -> None:
        """Past the cap: one coded line (a fresh socket's buffer takes it without waiting), then close."""
        message = f"{self.max_clients} clients are connected; try again later"
        writer.write(_line(_error(None, "too-many-clients", message)))
        writer.close()

    async def handle_line(self, line: bytes) -> dict[str, Any]:
        """One request in, one reply out; never raises."""
        self.requests += 1
        try:  # the same decoder as MQTT: size, depth, UTF-8 and surrogate rules
            request = payload.decode_json(payload.decode_text(line))
        except CommandError as err:
            return _error(None, err.code, err.message)
        if not isinstance(request, dict) or not isinstance(request.get("cmd"), str):
            return _error(None, "bad-request", 'a request is an object with a "cmd" string')
        try:
            rid = payload.request_id(request.get("id"))
        except CommandError as err:
            return _error(None, err.code, err.message)
        try:
            self.policy.check(request["cmd"])
            result = await self.commands.execute(request["cmd"], request.get("args"))
        except ApplianceError as err:
            return _error(rid, err.code, err.message)
        except Exception as err:
            _LOGGER.exception("Command %s failed", request["cmd"])
            return _error(rid, "internal-error", f"{type(err).__name__}: {err}")
        return {"id": rid, "ok": True, "result": result}


def _error(rid: Any, code: str, message: str) -> dict[str, Any]:
    return {"id": rid, "ok": False, "error": {"code": code, "message": message}}


def _line(reply: dict[str, Any]) -> bytes:
    return json.dumps(reply, default=str).encode() + b"\n"


def _answers(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        try:
            probe.connect(str(path))
            return True
        except OSError:
            return False


class ControlClient:
    """Blocking client for the CLI and maintenance scripts."""

    def __init__(self, path: Path, timeout: float = 10.0) -> None:
        self.path = path
        self.timeout = timeout

    def available(self) -> bool:
        return self.path.exists() and _answers(self.path)

    def call(self, cmd: str, args: dict[str, Any] | None = None, *, timeout: float | None = None) -> dict[str, Any]:
        """Send one command; returns its result or raises the daemon's coded error."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout or self.timeout)
            try:
                sock.connect(str(self.path))
                sock.sendall(json.dumps({"id": 1, "cmd": cmd, "args": args or {}}).encode() + b"\n")
                reply = _read_line(sock)
            except (FileNotFoundError, ConnectionRefusedError) as err:
                raise ControlError("daemon-not-running", f"no daemon answers on {self.path}") from err
            except TimeoutError as err:
                raise ControlError("daemon-timeout", f"the daemon did not answer {cmd!r} in time") from err
            except OSError as err:
                raise ControlError("socket-error", f"{self.path}: {err}") from err
        try:
            data = json.loads(reply)
        except ValueError as err:
            raise ControlError("bad-reply", f"the daemon sent something that is not JSON: {reply[:80]!r}") from err
        if not data.get("ok"):
            error = data.get("error") or {}
            raise ControlError(error.get("code", "error"), error.get("message", "unknown error"))
        return data["result"]


def _read_line(sock: socket.socket) -> bytes:
    chunks = []
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        chunks.append(chunk)
        if chunk.endswith(b"\n"):
            break
    return b"".join(chunks)
