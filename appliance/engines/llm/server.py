"""An OpenAI-compatible LLM server on the LAN as a streaming text source, on the standard library alone.

- ``POST <llm.server_url>/chat/completions`` with ``stream: true`` (llama.cpp's
  llama-server, llama-cpp-python's server, Ollama and vLLM all speak it); the
  Server-Sent Events are decoded by
  :class:`~appliance.engines.llm.chat_stream.ChatStreamDecoder` (pure: lines in,
  text out).  A server that ignores ``stream`` and answers with one JSON body
  is read as one piece.
- The request runs on a thread of its own that hands pieces over through a
  queue, so the deadlines hold whatever blocks (a name lookup, a TLS
  handshake, a server that accepted the connection and went quiet):
  :meth:`ServerLlm.stream` raises :class:`LlmServerError` when the first piece
  misses ``first_s`` or a later one ``stall_s``, and closes the connection, so
  the server stops generating for nobody.
- Nothing a server sends can grow without bound: the queue holds
  :data:`QUEUE_PIECES` (a reader ahead of the reply waits, and TCP makes the
  server wait), the request asks for ``max_tokens`` and a server that sends
  more pieces, characters or bytes than that allows is cut off
  (``server-too-long``), and the whole reply must end within
  ``llm.reply_max_s`` (``server-deadline``).
- Every failure is one coded :class:`LlmServerError` (``server-unreachable``,
  ``server-timeout``, ``server-http-401`` …).  The bearer key is read from its
  file once, kept out of ``repr`` and never put in a message; URLs in messages
  carry no userinfo.  Nothing from the response is executed: only the JSON
  fields that carry reply text are read.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import queue
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from appliance import __version__
from appliance.core.errors import ConfigError
from appliance.engines.llm.chat_stream import ChatStreamDecoder, LlmServerError, json_object
from appliance.engines.llm.protocol import GenerationStats, Message, ReplySource
from appliance.settings import LlmSettings
from appliance.settings.voice import without_userinfo

_LOGGER = logging.getLogger(__name__)

MAX_LINE = 1 << 20
"""Longest SSE line read (bytes); a longer one is a bad response, not a reason to grow without bound."""
MAX_BODY = 4 << 20
"""Largest non-streaming JSON body read (bytes)."""
POLL_S = 0.05
"""How often a wait for the next piece looks at ``cancel`` (barge-in)."""
SOCKET_BACKSTOP_S = 30.0
"""Socket timeout of the reading thread, so it ends by itself even if nobody closes its connection."""
QUEUE_PIECES = 32
"""Pieces read ahead of the reply; a full queue stops the reading thread, and TCP then stops the server."""
PIECE_SLACK = 16
"""Pieces a server may send beyond ``max_tokens`` (one piece is one token, or fewer, on the servers we know)."""
CHARS_PER_TOKEN = 32
"""Characters of reply text allowed per token of ``max_tokens``: about eight times a token's usual length."""
BYTES_PER_TOKEN = 4096
"""Stream bytes allowed per token of ``max_tokens``: a chunk's JSON wrapping is 150-400 bytes."""
MIN_STREAM_BYTES = 1 << 20
"""Stream bytes always allowed, whatever ``max_tokens`` (keep-alive comments, a usage chunk)."""


@dataclass(frozen=True)
class ServerEndpoint:
    """Where and how to reach the server; :attr:`authorization` never shows in ``repr``."""

    scheme: str
    host: str
    port: int
    base_path: str
    """The URL's path, ``/v1`` (no trailing slash)."""
    url: str
    """The base URL without userinfo: what logs and status show."""
    authorization: str = field(default="", repr=False)
    """The ``Authorization`` header's value, or empty."""

    def redact(self, text: str) -> str:
        """``text`` with the key, should a server echo it, replaced by ``***``."""
        key = self.authorization.partition(" ")[2]
        return text.replace(key, "***") if key else text

    @classmethod
    def from_settings(cls, settings: LlmSettings) -> ServerEndpoint:
        """The endpoint of ``llm.server_url``; the key from ``llm.server_api_key_file`` (ConfigError if unusable)."""
        parts = urlsplit(settings.server_url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        authorization = f"Bearer {read_key(settings.server_api_key_file)}" if settings.server_api_key_file else ""
        return cls(
            scheme=parts.scheme,
            host=parts.hostname or "",
            port=port,
            base_path=parts.path.rstrip("/"),
            url=without_userinfo(settings.server_url).rstrip("/"),
            authorization=authorization,
        )


def read_key(path: str) -> str:
    """The bearer key in ``path`` (its first line, stripped); ConfigError naming the setting, never the content."""
    try:
        lines = Path(path).expanduser().read_text(encoding="utf-8").strip().splitlines()
    except (OSError, UnicodeDecodeError) as err:
        reason = err.strerror if isinstance(err, OSError) else "not UTF-8 text"
        raise ConfigError("config-value", f"llm.server_api_key_file = {path!r} cannot be read: {reason}") from None
    key = lines[0].strip() if lines else ""
    if not key or any(ch.isspace() or not ch.isprintable() for ch in key):
        raise ConfigError("config-value", f"llm.server_api_key_file = {path!r} holds no usable key (one line)")
    return key


_END = object()


@dataclass(frozen=True)
class StreamLimits:
    """What one reply may take from the server, derived from the ``max_tokens`` it was asked for."""

    pieces: int
    chars: int
    """Characters of reply text."""
    bytes: int
    """Bytes of the response body: SSE lines, comments and JSON wrapping included."""

    @classmethod
    def for_tokens(cls, max_tokens: int) -> StreamLimits:
        return cls(
            pieces=max_tokens + PIECE_SLACK,
            chars=max_tokens * CHARS_PER_TOKEN,
            bytes=max(MIN_STREAM_BYTES, max_tokens * BYTES_PER_TOKEN),
        )


class _Request:
    """One request on its own thread: pieces, then ``_END`` or an :class:`LlmServerError`, into a queue."""

    def __init__(self, endpoint: ServerEndpoint, body: bytes, connect_s: float, limits: StreamLimits) -> None:
        self.endpoint = endpoint
        self.body = body
        self.connect_s = connect_s
        self.limits = limits
        self.items: queue.Queue[object] = queue.Queue(QUEUE_PIECES)
        self.decoder = ChatStreamDecoder()
        self._pieces = 0
        self._chars = 0
        self._bytes = 0
        self._stop = threading.Event()
        self._conn: http.client.HTTPConnection | None = None
        self._thread = threading.Thread(target=self._run, name="llm-server", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def abort(self) -> None:
        """Stop reading and drop the connection (the server sees the client go and stops generating)."""
        self._stop.set()
        conn = self._conn
        if conn is not None and conn.sock is not None:
            with contextlib.suppress(OSError):
                conn.sock.shutdown(socket.SHUT_RDWR)  # wakes a read blocked on a silent server

    def _put(self, item: object) -> None:
        """Hand ``item`` over, waiting while the queue is full; dropped once the reply is given up."""
        while not self._stop.is_set():
            try:
                self.items.put(item, timeout=POLL_S)
                return
            except queue.Full:
                continue

    def _text(self, pieces: list[str]) -> None:
        """Hand over reply text, within :attr:`limits` (``server-too-long`` past them)."""
        for text in pieces:
            self._pieces += 1
            self._chars += len(text)
            if self._pieces > self.limits.pieces or self._chars > self.limits.chars:
                raise LlmServerError("server-too-long", "the server sent more than the max_tokens it was asked for")
            self._put(text)

    def _run(self) -> None:
        try:
            self._exchange()
            self._put(_END)
        except LlmServerError as err:  # its message may quote the server: never let it quote the key
            self._put(LlmServerError(err.code, self.endpoint.redact(err.message)))
        except ssl.SSLError as err:
            self._put(LlmServerError("server-tls", f"TLS with {self.endpoint.url} failed: {err.reason}"))
        except (http.client.IncompleteRead, ConnectionResetError, http.client.RemoteDisconnected):
            self._put(LlmServerError("server-closed", "the server closed the connection mid-reply"))
        except (OSError, http.client.HTTPException) as err:
            self._put(_connection_error(self.endpoint, err, stopped=self._stop.is_set()))
        finally:
            conn, self._conn = self._conn, None
            if conn is not None:
                conn.close()

    def _exchange(self) -> None:
        ep = self.endpoint
        conn_class = http.client.HTTPSConnection if ep.scheme == "https" else http.client.HTTPConnection
        conn = conn_class(ep.host, ep.port, timeout=self.connect_s)
        self._conn = conn
        headers = {
            "Content-Type": "application/json",
            "Accept": "text/event-stream",
            "User-Agent": f"appliance/{__version__}",
        }
        if ep.authorization:
            headers["Authorization"] = ep.authorization
        conn.request("POST", f"{ep.base_path}/chat/completions", body=self.body, headers=headers)
        if conn.sock is not None:
            conn.sock.settimeout(SOCKET_BACKSTOP_S)
        response = conn.getresponse()
        if response.status != 200:
            body = response.read(200).decode("utf-8", "replace")
            _LOGGER.debug("LLM server answered %d: %r", response.status, ep.redact(body))
            raise LlmServerError(
                f"server-http-{response.status}", f"{ep.url} answered HTTP {response.status} {response.reason}"
            )
        if (response.getheader("Content-Type") or "").startswith("application/json"):
            self._text(self.decoder.chunk(json_object(response.read(MAX_BODY).decode("utf-8", "replace"))))
            self.decoder.done = True
            return
        while not self._stop.is_set() and not self.decoder.done:
            line = response.readline(min(MAX_LINE, self.limits.bytes - self._bytes + 1))
            self._bytes += len(line)
            if self._bytes > self.limits.bytes:
                raise LlmServerError("server-too-long", f"the server sent more than {self.limits.bytes} bytes")
            if not line:
                self._text(self.decoder.end())
                break
            self._text(self.decoder.feed(line.decode("utf-8", "replace")))
        if not self._stop.is_set() and not self.decoder.finished:
            raise LlmServerError("server-closed", "the server ended the stream before the reply was finished")


def _connection_error(endpoint: ServerEndpoint, err: BaseException, *, stopped: bool) -> LlmServerError:
    if stopped:
        return LlmServerError("server-aborted", "the request was given up")
    if isinstance(err, TimeoutError):
        return LlmServerError("server-timeout", f"{endpoint.url} did not answer in time")
    if isinstance(err, http.client.HTTPException):
        return LlmServerError("server-bad-response", f"{endpoint.url} sent a broken HTTP response")
    reason = getattr(err, "strerror", None) or type(err).__name__
    return LlmServerError("server-unreachable", f"cannot reach {endpoint.url}: {reason}")


class ServerLlm(ReplySource):
    """The LAN server's chat completions as a blocking generator of reply text (see the module docstring)."""

    def __init__(self, endpoint: ServerEndpoint, settings: LlmSettings) -> None:
        self.endpoint = endpoint
        self.settings = settings
        self.last = GenerationStats(backend="server")

    @classmethod
    def from_settings(cls, settings: LlmSettings) -> ServerLlm:
        return cls(ServerEndpoint.from_settings(settings), settings)

    @property
    def url(self) -> str:
        """The base URL without credentials."""
        return self.endpoint.url

    def request_body(self, messages: list[Message], max_tokens: int | None) -> bytes:
        s = self.settings
        body: dict[str, Any] = {
            "model": s.server_model or "default",
            "messages": messages,
            "stream": True,
            "max_tokens": max_tokens or s.max_tokens,
            "temperature": s.temperature,
            "top_p": s.top_p,
        }
        if s.stop:
            body["stop"] = list(s.stop)
        if s.seed >= 0:
            body["seed"] = s.seed
        return json.dumps(body).encode("utf-8")

    def stream(
        self,
        messages: list[Message],
        cancel: threading.Event,
        *,
        max_tokens: int | None = None,
        may_run: threading.Event | None = None,
        first_s: float | None = None,
        stall_s: float | None = None,
    ) -> Iterator[str]:
        """Blocking generator of reply text; LlmServerError when a deadline passes or the server fails.

        ``first_s`` bounds the wait for the first piece (default ``llm.server_timeout_s``), ``stall_s``
        each wait after it (default the same), ``llm.reply_max_s`` the whole reply (``server-deadline``).
        ``max_tokens`` (default ``llm.max_tokens``) is asked for, and a server that ignores it is cut
        off (``server-too-long``).  Setting ``cancel`` ends the stream quietly.  ``may_run`` is not
        waited on: reading the server's stream costs the board nothing.
        """
        first_s = self.settings.server_timeout_s if first_s is None else first_s
        stall_s = first_s if stall_s is None else stall_s
        reply_s = self.settings.reply_max_s
        stats = GenerationStats(backend="server")
        start = time.perf_counter()
        tokens = max_tokens or self.settings.max_tokens
        limits = StreamLimits.for_tokens(tokens)
        request = _Request(self.endpoint, self.request_body(messages, tokens), connect_s=first_s, limits=limits)
        request.start()
        try:
            while True:
                left = reply_s - (time.perf_counter() - start)
                limit = stall_s if stats.completion_tokens else first_s
                item = _next_item(request.items, min(limit, left), cancel)
                if item is _CANCELLED:
                    stats.cancelled = True
                    return
                if item is _TIMED_OUT and left <= limit:
                    raise LlmServerError("server-deadline", f"{self.url} was still replying after {reply_s:g} s")
                if item is _TIMED_OUT:
                    code = "server-stalled" if stats.completion_tokens else "server-timeout"
                    raise LlmServerError(code, f"{self.url} sent nothing for {limit:g} s")
                if isinstance(item, LlmServerError):
                    raise item
                if item is _END:
                    break
                if not stats.completion_tokens:
                    stats.first_token_s = time.perf_counter() - start
                stats.completion_tokens += 1
                yield str(item)
            decoder = request.decoder
            stats.completion_tokens = decoder.completion_tokens or stats.completion_tokens
            stats.prompt_tokens = decoder.prompt_tokens or 0
        finally:
            request.abort()
            stats.total_s = time.perf_counter() - start
            self.last = stats


_CANCELLED = object()
_TIMED_OUT = object()


def _next_item(items: queue.Queue[object], limit_s: float, cancel: threading.Event) -> object:
    """The next item within ``limit_s``, watching ``cancel`` every :data:`POLL_S`."""
    deadline = time.monotonic() + limit_s
    while True:
        if cancel.is_set():
            return _CANCELLED
        left = deadline - time.monotonic()
        if left <= 0:
            return _TIMED_OUT
        try:
            return items.get(timeout=min(POLL_S, left))
        except queue.Empty:
            continue
