"""An OpenAI-compatible LLM server on the LAN as a streaming text source, on the standard library alone.

- ``POST <llm.server_url>/chat/completions`` with ``stream: true`` (llama.cpp's
  llama-server, llama-cpp-python's server, Ollama and vLLM all speak it); the
  Server-Sent Events are decoded by :class:`ChatStreamDecoder` (pure: lines in,
  text out).  A server that ignores ``stream`` and answers with one JSON body
  is read as one piece.
- The request runs on a thread of its own that hands pieces over through a
  queue, so the deadlines hold whatever blocks (a name lookup, a TLS
  handshake, a server that accepted the connection and went quiet):
  :meth:`ServerLlm.stream` raises :class:`LlmServerError` when the first piece
  misses ``first_s`` or a later one ``stall_s``, and closes the connection, so
  the server stops generating for nobody.
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
from appliance.core.errors import ConfigError, LlmError
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


class LlmServerError(LlmError):
    """The LAN server failed a request; ``code`` says how (the router's fallback reason)."""


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


class ChatStreamDecoder:
    """Decodes a chat-completions SSE stream: :meth:`feed` each line, get the reply text it carried."""

    def __init__(self) -> None:
        self.done = False
        """``data: [DONE]`` arrived."""
        self.finish_reason: str | None = None
        self.completion_tokens: int | None = None
        """From a ``usage`` object, if the server sent one."""
        self.prompt_tokens: int | None = None
        self._data: list[str] = []

    @property
    def finished(self) -> bool:
        """The server said the reply is complete (not merely that the connection ended)."""
        return self.done or self.finish_reason is not None

    def feed(self, line: str) -> list[str]:
        """One line of the stream (with or without its newline); the text pieces it completed."""
        line = line.rstrip("\r\n")
        if line.startswith(":"):  # an SSE comment (keep-alive)
            return []
        if line:
            name, _, value = line.partition(":")
            if name == "data":
                self._data.append(value[1:] if value.startswith(" ") else value)
            return []  # event:, id:, retry: carry nothing for us
        if not self._data:
            return []
        data, self._data = "\n".join(self._data), []  # a blank line ends the event
        return self.event(data)

    def end(self) -> list[str]:
        """The stream ended: an event that was not closed by a blank line still counts."""
        if not self._data:
            return []
        data, self._data = "\n".join(self._data), []
        return self.event(data)

    def event(self, data: str) -> list[str]:
        """One event's data: ``[DONE]`` or a chat.completion.chunk object."""
        if data.strip() == "[DONE]":
            self.done = True
            return []
        return self.chunk(_json_object(data))

    def chunk(self, obj: dict[str, Any]) -> list[str]:
        """Text of one chunk (``choices[0].delta.content``), or of a whole response (``message.content``)."""
        if "error" in obj:
            raise LlmServerError("server-error", f"the server reported an error: {_error_text(obj['error'])}")
        usage = obj.get("usage")
        if isinstance(usage, dict):
            self.completion_tokens = _int_or_none(usage.get("completion_tokens"))
            self.prompt_tokens = _int_or_none(usage.get("prompt_tokens"))
        choices = obj.get("choices")
        if not isinstance(choices, list) or not choices:
            return []  # a usage-only chunk, or a heartbeat object
        choice = choices[0]
        if not isinstance(choice, dict):
            raise LlmServerError("server-bad-response", "a choice in the stream is not an object")
        if isinstance(choice.get("finish_reason"), str):
            self.finish_reason = choice["finish_reason"]
        part = choice.get("delta") or choice.get("message") or {}
        text = part.get("content") if isinstance(part, dict) else None
        return [text] if isinstance(text, str) and text else []


def _json_object(data: str) -> dict[str, Any]:
    try:
        obj = json.loads(data)
    except ValueError:
        raise LlmServerError("server-bad-response", "the server sent data that is not JSON") from None
    if not isinstance(obj, dict):
        raise LlmServerError("server-bad-response", "the server sent JSON that is not an object")
    return obj


def _error_text(error: Any) -> str:
    message = error.get("message") if isinstance(error, dict) else error
    return str(message)[:120]


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


_END = object()


class _Request:
    """One request on its own thread: pieces, then ``_END`` or an :class:`LlmServerError`, into a queue."""

    def __init__(self, endpoint: ServerEndpoint, body: bytes, connect_s: float) -> None:
        self.endpoint = endpoint
        self.body = body
        self.connect_s = connect_s
        self.items: queue.Queue[object] = queue.Queue()
        self.decoder = ChatStreamDecoder()
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

    def _run(self) -> None:
        try:
            self._exchange()
            self.items.put(_END)
        except LlmServerError as err:  # its message may quote the server: never let it quote the key
            self.items.put(LlmServerError(err.code, self.endpoint.redact(err.message)))
        except ssl.SSLError as err:
            self.items.put(LlmServerError("server-tls", f"TLS with {self.endpoint.url} failed: {err.reason}"))
        except (http.client.IncompleteRead, ConnectionResetError, http.client.RemoteDisconnected):
            self.items.put(LlmServerError("server-closed", "the server closed the connection mid-reply"))
        except (OSError, http.client.HTTPException) as err:
            self.items.put(_connection_error(self.endpoint, err, stopped=self._stop.is_set()))
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
            for text in self.decoder.chunk(_json_object(response.read(MAX_BODY).decode("utf-8", "replace"))):
                self.items.put(text)
            self.decoder.done = True
            return
        while not self._stop.is_set() and not self.decoder.done:
            line = response.readline(MAX_LINE)
            if not line:
                for text in self.decoder.end():
                    self.items.put(text)
                break
            for text in self.decoder.feed(line.decode("utf-8", "replace")):
                self.items.put(text)
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
        each wait after it (default the same).  Setting ``cancel`` ends the stream quietly.  ``may_run``
        is not waited on: reading the server's stream costs the board nothing.
        """
        first_s = self.settings.server_timeout_s if first_s is None else first_s
        stall_s = first_s if stall_s is None else stall_s
        stats = GenerationStats(backend="server")
        start = time.perf_counter()
        request = _Request(self.endpoint, self.request_body(messages, max_tokens), connect_s=first_s)
        request.start()
        try:
            while True:
                limit = stall_s if stats.completion_tokens else first_s
                item = _next_item(request.items, limit, cancel)
                if item is _CANCELLED:
                    stats.cancelled = True
                    return
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
