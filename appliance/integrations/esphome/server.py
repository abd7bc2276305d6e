"""The ESPHome API port: asyncio on the daemon's loop, capped in connections, each one a :class:`.session.Session`.

At most ``max_clients`` connections are served at once; one more is closed as it is
accepted (a flood costs a log line a minute, not one per connection).  Each connection
reads through a stream buffer of a few frames at most.  Stopping cancels every session.
"""

from __future__ import annotations

import asyncio
import logging
import time

from appliance.integrations.esphome.device import Identity
from appliance.integrations.esphome.framing import MAX_MESSAGE_BYTES
from appliance.integrations.esphome.satellite import Satellite
from appliance.integrations.esphome.session import Session

_LOGGER = logging.getLogger(__name__)

WARN_EVERY_S = 60.0


class EsphomeServer:
    """Serves the ESPHome native API on ``host:port``; ``port`` is the bound one once started."""

    def __init__(
        self, satellite: Satellite, identity: Identity, *, key: bytes | None, host: str, port: int, max_clients: int
    ) -> None:
        self.satellite = satellite
        self.identity = identity
        self._key = key
        self.host = host
        self.port = port
        self.max_clients = max_clients
        self._server: asyncio.Server | None = None
        self._sessions: set[asyncio.Task[None]] = set()
        self._last_warning = -WARN_EVERY_S

    async def start(self) -> None:
        """Bind and listen; OSError when the address cannot be bound."""
        self._server = await asyncio.start_server(self._client, self.host, self.port, limit=MAX_MESSAGE_BYTES)
        self.port = self._server.sockets[0].getsockname()[1]
        mode = "Noise-encrypted" if self._key is not None else "plaintext"
        _LOGGER.info(
            "ESPHome: serving the native API (%s) on %s:%d as %s", mode, self.host, self.port, self.identity.name
        )

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for task in list(self._sessions):
            task.cancel()
        if self._sessions:
            await asyncio.gather(*self._sessions, return_exceptions=True)
        if server is not None:
            await server.wait_closed()

    @property
    def clients(self) -> int:
        """Connections open now."""
        return len(self._sessions)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        counters = self.satellite.counters
        if task is None or self._server is None or len(self._sessions) >= self.max_clients:
            writer.transport.abort()
            counters.refused += 1
            self._warn_refused(_peer(writer))
            return
        peer = _peer(writer)
        self._sessions.add(task)
        counters.connections += 1
        counters.clients = len(self._sessions)
        _LOGGER.debug("ESPHome: %s connected", peer)
        try:
            await Session(reader, writer, self.satellite, key=self._key, identity=self.identity, peer=peer).run()
        except Exception:  # a bug in one session must not reach the daemon's loop
            counters.closed("esphome-internal")
            _LOGGER.exception("ESPHome: session with %s failed", peer)
        finally:
            self._sessions.discard(task)
            counters.clients = len(self._sessions)
            writer.transport.abort()
            _LOGGER.debug("ESPHome: %s disconnected", peer)

    def _warn_refused(self, peer: str) -> None:
        _LOGGER.debug("ESPHome: refused %s (esphome.max_clients = %d)", peer, self.max_clients)
        now = time.monotonic()
        if now - self._last_warning >= WARN_EVERY_S:
            self._last_warning = now
            _LOGGER.warning(
                "ESPHome: %d clients connected (esphome.max_clients), closing new ones (%d so far)",
                self.clients,
                self.satellite.counters.refused,
            )


def _peer(writer: asyncio.StreamWriter) -> str:
    address = writer.get_extra_info("peername")
    if isinstance(address, tuple) and len(address) >= 2:
        host = str(address[0])
        return f"[{host}]:{address[1]}" if ":" in host else f"{host}:{address[1]}"
    return str(address)
