"""The metrics endpoint's HTTP server: asyncio on the daemon's loop, with a read timeout and a connection cap.

prometheus_client's ``start_http_server`` starts a thread per connection and never times a
request out, so each half-sent request holds a thread until the unit's ``TasksMax`` is reached.
Here a connection is a task on the loop: it must send its request line and headers within
``read_timeout_s``, at most ``max_connections`` are served at once (one more is closed at
accept), and the exposition is generated on one worker thread, so the loop never waits for it
and a flood of connections adds no thread (docs/security.md has the figures).

One request per connection (``Connection: close``): ``GET /metrics`` is answered with the
registry in the format the ``Accept`` header asks for; any other path is 404, any other method 405.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

_LOGGER = logging.getLogger(__name__)

PATH = "/metrics"
MAX_REQUEST_HEAD = 16 * 1024
"""Bytes of request line and headers; a scrape sends a few hundred."""
WARN_EVERY_S = 60.0


class MetricsServer:
    """Serves one registry over HTTP on the running loop; ``port`` is the bound port once started."""

    def __init__(
        self, registry: CollectorRegistry, *, host: str, port: int, read_timeout_s: float, max_connections: int
    ) -> None:
        self.registry = registry
        self.host = host
        self.read_timeout_s = read_timeout_s
        self.max_connections = max_connections
        self.port = port
        self.refused = 0
        """Connections closed at accept because ``max_connections`` were open."""
        self._server: asyncio.Server | None = None
        self._clients: set[asyncio.Task[None]] = set()
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._last_warning = -WARN_EVERY_S

    async def start(self) -> None:
        """Bind and listen; OSError when the address cannot be bound."""
        self._server = await asyncio.start_server(self._client, self.host, self.port, limit=MAX_REQUEST_HEAD)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for task in list(self._clients):
            task.cancel()
        if self._clients:
            await asyncio.gather(*self._clients, return_exceptions=True)
        if server is not None:
            await server.wait_closed()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    @property
    def connections(self) -> int:
        return len(self._clients)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is None or len(self._clients) >= self.max_connections or self._server is None:
            self._refuse(writer)
            return
        self._clients.add(task)
        closed = False
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), self.read_timeout_s)
            status, headers, body = await self._answer(head)
            writer.write(_response(status, headers, body))
            writer.close()  # after the reply is flushed; a client that does not read it is cut off below
            await asyncio.wait_for(writer.wait_closed(), self.read_timeout_s)
            closed = True
        except (asyncio.TimeoutError, ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass  # slow, gone or oversized: the connection is dropped, nothing to answer
        finally:
            self._clients.discard(task)
            if not closed:  # timed out, gone, refused or cancelled: drop whatever is unsent
                writer.transport.abort()

    def _refuse(self, writer: asyncio.StreamWriter) -> None:
        writer.transport.abort()
        self.refused += 1
        now = time.monotonic()
        if now - self._last_warning >= WARN_EVERY_S:  # a flood is one line a minute, not one per connection
            self._last_warning = now
            _LOGGER.warning(
                "Metrics: %d connections open, closing new ones (%d so far)", self.connections, self.refused
            )

    async def _answer(self, head: bytes) -> tuple[str, dict[str, str], bytes]:
        request_line, *lines = head.decode("latin-1").split("\r\n")
        parts = request_line.split()
        if len(parts) != 3:
            return "400 Bad Request", {}, b"bad request line\n"
        method, target, _version = parts
        if target.split("?", 1)[0] != PATH:
            return "404 Not Found", {}, b"metrics are at /metrics\n"
        if method != "GET":
            return "405 Method Not Allowed", {"Allow": "GET"}, b""
        accept = _header(lines, "accept")
        try:
            body, content_type = await asyncio.get_running_loop().run_in_executor(self._worker(), self._expose, accept)
        except Exception:
            _LOGGER.exception("Metrics exposition failed")
            return "500 Internal Server Error", {}, b"exposition failed\n"
        return "200 OK", {"Content-Type": content_type}, body

    def _expose(self, accept: str) -> tuple[bytes, str]:
        encoder, content_type = choose_encoder(accept)
        return encoder(self.registry), content_type

    def _worker(self) -> concurrent.futures.ThreadPoolExecutor:
        """One thread, started at the first scrape: the collectors read ``status`` on the loop and wait for it."""
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="metrics")
        return self._pool


def _header(lines: list[str], name: str) -> str:
    for line in lines:
        key, sep, value = line.partition(":")
        if sep and key.strip().lower() == name:
            return value.strip()
    return ""


def _response(status: str, headers: dict[str, str], body: bytes) -> bytes:
    fields = {"Content-Type": "text/plain; charset=utf-8", **headers, "Content-Length": str(len(body))}
    fields["Connection"] = "close"
    head = f"HTTP/1.1 {status}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields.items()) + "\r\n"
    return head.encode("latin-1") + body
