"""A TCP port on the daemon's loop, capped in connections, each one a session; announced while it serves.

At most ``max_clients`` connections are served at once; one more is closed as it is
accepted (a flood costs a log line a minute, not one per connection).  Each connection
reads through a stream buffer of ``buffer_bytes``, so a hundred clients hold little
memory.  Stopping withdraws the announcement and cancels every session.  The Wyoming and
the ESPHome ports are each one of these.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from appliance.core.errors import ConfigError

WARN_EVERY_S = 60.0


class Counters(Protocol):
    """What a listener counts, shown in its feature's ``status``."""

    clients: int
    """Connections open now."""
    connections: int
    """Connections accepted since start."""
    refused: int
    """Connections closed at accept because ``max_clients`` were open."""

    def closed(self, code: str) -> None:
        """Count a connection closed for ``code``."""


class PortSettings(Protocol):
    """The keys a listening port's settings section has (``[wyoming]``, ``[esphome]``)."""

    @property
    def host(self) -> str: ...

    @property
    def port(self) -> int: ...

    @property
    def max_clients(self) -> int: ...

    @property
    def announce(self) -> bool: ...


class Announcement(Protocol):
    """The port's mDNS record (a :class:`.zeroconf_service.ZeroconfService`)."""

    address: str | None

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


Serve = Callable[[asyncio.StreamReader, asyncio.StreamWriter, str], Awaitable[None]]
"""Runs one connection's session to its end; the string names the peer."""

Announce = Callable[[str, int], Announcement]
"""Makes the record for the bound ``host`` and ``port``."""


def peer_name(writer: asyncio.StreamWriter) -> str:
    """``host:port`` of the other end, ``[host]:port`` for IPv6."""
    address = writer.get_extra_info("peername")
    if isinstance(address, tuple) and len(address) >= 2:
        host = str(address[0])
        return f"[{host}]:{address[1]}" if ":" in host else f"{host}:{address[1]}"
    return str(address)


class TcpListener:
    """Serves ``serve`` on ``cfg``'s ``host:port``; ``port`` is the bound one once started.

    ``name`` starts the log lines ("Wyoming"), ``section`` is the settings section
    ("wyoming") that messages name and that prefixes the internal error code, ``serving``
    says in the start's log line what the port serves.  Lines go to ``log``, the owning
    integration's logger, so that a filter on ``appliance.integrations.wyoming`` sees them.
    ``announce`` makes the mDNS record, used when ``cfg.announce`` is on.
    """

    def __init__(
        self,
        serve: Serve,
        counters: Counters,
        cfg: PortSettings,
        *,
        name: str,
        section: str,
        buffer_bytes: int,
        serving: str,
        log: logging.Logger,
        announce: Announce,
    ) -> None:
        self.serve = serve
        self.counters = counters
        self.name = name
        self.section = section
        self.host = cfg.host
        self.port = cfg.port
        self.max_clients = cfg.max_clients
        self.buffer_bytes = buffer_bytes
        self.serving = serving
        self.log = log
        self._announce = announce if cfg.announce else None
        self.announcement: Announcement | None = None
        self._server: asyncio.Server | None = None
        self._sessions: set[asyncio.Task[None]] = set()
        self._last_warning = -WARN_EVERY_S

    async def start(self) -> None:
        """Bind, listen and announce; ConfigError naming ``<section>.host/port`` when the address cannot be bound."""
        try:
            self._server = await asyncio.start_server(self._client, self.host, self.port, limit=self.buffer_bytes)
        except OSError as err:
            address = f"{self.host}:{self.port}"
            message = f"{self.section}.host/port = {address!r} cannot be bound: {err.strerror or err}"
            raise ConfigError("config-value", message) from err
        self.port = self._server.sockets[0].getsockname()[1]
        self.log.info("%s: serving %s on %s:%d", self.name, self.serving, self.host, self.port)
        if self._announce is not None:
            self.announcement = self._announce(self.host, self.port)
            await self.announcement.start()

    async def stop(self) -> None:
        """Withdraw the announcement, stop accepting and cancel every session."""
        if self.announcement is not None:
            await self.announcement.stop()
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
    def listen(self) -> str:
        """``host:port`` as ``status`` shows it."""
        return f"{self.host}:{self.port}"

    @property
    def announced(self) -> str | None:
        """The address announced over mDNS, None while not announced."""
        return self.announcement.address if self.announcement is not None else None

    @property
    def clients(self) -> int:
        """Connections open now."""
        return len(self._sessions)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        counters = self.counters
        if task is None or self._server is None or len(self._sessions) >= self.max_clients:
            writer.transport.abort()
            counters.refused += 1
            self._warn_refused(peer_name(writer))
            return
        peer = peer_name(writer)
        self._sessions.add(task)
        counters.connections += 1
        counters.clients = len(self._sessions)
        self.log.debug("%s: %s connected", self.name, peer)
        try:
            await self.serve(reader, writer, peer)
        except Exception:  # a bug in one session must not reach the daemon's loop
            counters.closed(f"{self.section}-internal")
            self.log.exception("%s: session with %s failed", self.name, peer)
        finally:
            self._sessions.discard(task)
            counters.clients = len(self._sessions)
            writer.transport.abort()  # whatever is unsent is dropped: the client is done or broke the protocol
            self.log.debug("%s: %s disconnected", self.name, peer)

    def _warn_refused(self, peer: str) -> None:
        self.log.debug("%s: refused %s (%s.max_clients = %d)", self.name, peer, self.section, self.max_clients)
        now = time.monotonic()
        if now - self._last_warning >= WARN_EVERY_S:
            self._last_warning = now
            self.log.warning(
                "%s: %d clients connected (%s.max_clients), closing new ones (%d so far)",
                self.name,
                self.clients,
                self.section,
                self.counters.refused,
            )
