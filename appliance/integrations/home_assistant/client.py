"""One logged-in session on Home Assistant's WebSocket API: numbered commands, their results, and events.

The narrow face of the ``websockets`` library: :meth:`Connection.open` connects and
authenticates with the long-lived token, :meth:`Connection.command` sends one
command and waits (with a timeout) for its result, and :meth:`Connection.run`
reads every message, resolving results and handing events on. Messages are
bounded (``home_assistant.max_message_mb``); one that is not JSON closes the
session, and the link reconnects. The token is sent once and never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException

from appliance.home.assistant import HomeAssistantError

_LOGGER = logging.getLogger(__name__)
_WIRE = logging.getLogger(f"{__name__}.wire")
_WIRE.setLevel(logging.INFO)  # the library logs every frame at DEBUG, the token's too: never

EventSink = Callable[[Mapping[str, Any]], None]
NETWORK_ERRORS = (OSError, WebSocketException, asyncio.TimeoutError, EOFError)
"""What a lost, refused or half-open connection raises."""
PARSE_OFF_LOOP = 256_000
"""A frame this long (a big home's states or registry) is parsed on a worker thread, not on the loop."""


class Connection:
    """A session after ``auth_ok``; :meth:`run` must be running for :meth:`command` to get answers."""

    def __init__(self, socket: ClientConnection, timeout_s: float, version: str = "") -> None:
        self._socket = socket
        self._timeout_s = timeout_s
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self.version = version
        """Home Assistant's version, from ``auth_ok``."""

    @classmethod
    async def open(
        cls, url: str, token: str, *, timeout_s: float, request_timeout_s: float, max_bytes: int
    ) -> Connection:
        """Connect and log in; :class:`HomeAssistantError` ``ha-auth`` when the token is refused."""
        try:
            socket = await asyncio.wait_for(
                connect(url, open_timeout=timeout_s, max_size=max_bytes, proxy=None, compression=None, logger=_WIRE),
                timeout_s,
            )
        except NETWORK_ERRORS as err:
            raise HomeAssistantError("ha-unreachable", f"{url}: {type(err).__name__}") from None
        try:
            hello = await _receive(socket, timeout_s)
            if hello.get("type") != "auth_required":
                raise HomeAssistantError("ha-protocol", f"expected auth_required, got {str(hello.get('type'))[:40]!r}")
            await socket.send(json.dumps({"type": "auth", "access_token": token}))
            answer = await _receive(socket, timeout_s)
        except NETWORK_ERRORS as err:
            await socket.close()
            raise HomeAssistantError("ha-unreachable", f"{url}: {type(err).__name__} while logging in") from None
        except HomeAssistantError:
            await socket.close()
            raise
        if answer.get("type") != "auth_ok":
            await socket.close()
            raise HomeAssistantError("ha-auth", "Home Assistant refused the access token (home_assistant.token_file)")
        return cls(socket, request_timeout_s, str(answer.get("ha_version", ""))[:40])

    async def command(self, payload: Mapping[str, Any], timeout_s: float | None = None) -> Any:
        """Send one command and return its ``result``; ``ha-refused`` with Home Assistant's message on an error."""
        number = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[number] = future
        try:
            await self._socket.send(json.dumps({**payload, "id": number}))
            return await asyncio.wait_for(future, timeout_s or self._timeout_s)
        except asyncio.TimeoutError:
            raise HomeAssistantError("ha-timeout", f"no answer to {payload.get('type')} in time") from None
        except NETWORK_ERRORS as err:
            raise HomeAssistantError("ha-unreachable", f"the connection was lost ({type(err).__name__})") from None
        finally:
            self._waiting.pop(number, None)

    async def run(self, on_event: EventSink) -> None:
        """Read until the connection closes: results to their commands, events to ``on_event``."""
        lost = HomeAssistantError("ha-unreachable", "the connection to Home Assistant was lost")
        try:
            async for raw in self._socket:
                big = len(raw) > PARSE_OFF_LOOP
                for message in await asyncio.to_thread(_messages, raw) if big else _messages(raw):
                    self._dispatch(message, on_event)
        except NETWORK_ERRORS as err:
            _LOGGER.info("Home Assistant's connection ended: %s", type(err).__name__)
        except HomeAssistantError as err:  # a message that is not JSON: the session is over, and says why
            lost = err
            raise
        finally:
            for future in self._waiting.values():
                if not future.done():
                    future.set_exception(lost)
            await self.close()

    def _dispatch(self, message: Mapping[str, Any], on_event: EventSink) -> None:
        kind = message.get("type")
        if kind == "result":
            future = self._waiting.get(message.get("id"))  # type: ignore[arg-type]
            if future is None or future.done():
                return
            if message.get("success"):
                future.set_result(message.get("result"))
            else:
                error = message.get("error")
                error = error if isinstance(error, Mapping) else {}
                text = str(error.get("message") or error.get("code") or "refused")[:200]
                future.set_exception(HomeAssistantError("ha-refused", text))
        elif kind == "event" and isinstance(message.get("event"), Mapping):
            try:
                on_event(message["event"])
            except Exception:  # one bad event must not end the session
                _LOGGER.exception("A Home Assistant event could not be taken")

    async def close(self) -> None:
        with contextlib.suppress(*NETWORK_ERRORS):
            await self._socket.close()


async def _receive(socket: ClientConnection, timeout_s: float) -> Mapping[str, Any]:
    raw = await asyncio.wait_for(socket.recv(), timeout_s)
    found = _messages(raw)
    if len(found) != 1:
        raise HomeAssistantError("ha-protocol", "expected one message while logging in")
    return found[0]


def _messages(raw: str | bytes) -> list[Mapping[str, Any]]:
    """One frame's messages (Home Assistant may coalesce several into a JSON list); not JSON: ``ha-protocol``."""
    try:
        value = json.loads(raw)
    except ValueError:
        raise HomeAssistantError("ha-protocol", "a message that is not JSON") from None
    items = value if isinstance(value, list) else [value]
    return [m for m in items if isinstance(m, Mapping)]
