"""The Wyoming port: asyncio on the daemon's loop, capped in connections, each one a :class:`.session.Session`.

At most ``max_clients`` connections are served at once; one more is closed as it is
accepted (a flood costs a log line a minute, not one per connection).  Each connection
reads through a stream whose buffer is capped at :data:`.framing.MAX_HEADER_BYTES`, so a
hundred clients hold a few MB at most.  Stopping cancels every session.
"""

from __future__ import annotations

import asyncio
import logging
import time

from appliance.integrations.wyoming.framing import MAX_HEADER_BYTES
from appliance.integrations.wyoming.services import Services
from appliance.integrations.wyoming.session import Session

_LOGGER = logging.getLogger(__name__)

WARN_EVERY_S = 60.0


class WyomingServer:
    """Serves the Wyoming protocol on ``host:port``; ``port`` is the bound one once started."""

    def __init__(self, services: Services, *, host: str, port: int, max_clients: int) -> None:
        self.services = services
        self.host = host
        self.port = port
        self.max_clients = max_clients
        self._server: asyncio.Server | None = None
        self._sessions: set[asyncio.Task[None]] = set()
        self._last_warning = -WARN_EVERY_S

    async def start(self) -> None:
        """Bind and listen; OSError when the address cannot be bound."""
        self._server = await asyncio.start_server(self._client, self.host, self.port, limit=MAX_HEADER_BYTES)
        self.port = self._server.sockets[0].getsockname()[1]
        _LOGGER.info("Wyoming: serving on %s:%d", self.host, self.port)

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
        counters = self.services.counters
        if task is None or self._server is None or len(self._sessions) >= self.max_clients:
            writer.transport.abort()
            counters.refused += 1
            self._warn_refused(_peer(writer))
            return
        peer = _peer(writer)
        self._sessions.add(task)
        counters.connections += 1
        counters.clients = len(self._sessions)
        _LOGGER.debug("Wyoming: %s connected", peer)
        try:
            await Session(reader, writer, self.services, peer).run()
        except Exception:  # a bug in one session must not reach the daemon's loop
            counters.closed("wyoming-internal")
            _LOGGER.exception("Wyoming: session with %s failed", peer)
        finally:
            self._sessions.discard(task)
            counters.clients = len(self._sessions)
            writer.transport.abort()  # whatever is unsent is dropped: the client is done or broke the protocol
            _LOGGER.debug("Wyoming: %s disconnected", peer)

    def _warn_refused(self, peer: str) -> None:
        _LOGGER.debug("Wyoming: refused %s (wyoming.max_clients = %d)", peer, self.max_clients)
        now = time.monotonic()
        if now - self._last_warning >= WARN_EVERY_S:
            self._last_warning = now
            _LOGGER.warning(
                "Wyoming: %d clients connected (wyoming.max_clients), closing new ones (%d so far)",
                self.clients,
                self.services.counters.refused,
            )


def _peer(writer: asyncio.StreamWriter) -> str:
    address = writer.get_extra_info("peername")
    if isinstance(address, tuple) and len(address) >= 2:
        return f"{address[0]}:{address[1]}"
    return str(address)
