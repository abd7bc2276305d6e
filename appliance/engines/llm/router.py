"""The conversation's LLM when a LAN server is configured: the server while it answers, else the local model.

:class:`RoutedLlm` is a :class:`~appliance.engines.llm.protocol.LanguageModel` like the local model
it stands in front of, so the turn path does not know which one answered (``last.backend`` says).  Only
conversation replies go to the server; home control's scoring, the prefill
and the KV cache stay on the local model, which therefore stays warm for the
fallback.

- A server that is unreachable, answers with an error or misses the first-token
  deadline (``llm.server_timeout_s``) costs at most that deadline: the local
  model then answers the same turn.
- After a failure the server is left alone for a back-off (5 s, doubling to
  5 min, reset by a success), so a dead server is not waited on turn after turn.
- Server text reaches the reply one whole sentence at a time; see
  :meth:`RoutedLlm.stream` for why that makes a failure mid-reply clean.
- A server that streams forever is stopped by ``llm.max_tokens`` (``server-too-long``) or
  ``llm.reply_max_s`` (``server-deadline``), like one that dies mid-reply: the reply
  ends after its last whole sentence.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

from appliance.core.chunker import SentenceChunker
from appliance.core.feature import Feature
from appliance.engines.llm.chat_stream import LlmServerError
from appliance.engines.llm.protocol import GenerationStats, LanguageModel, Message
from appliance.engines.llm.server import ServerLlm
from appliance.settings import LlmSettings

_LOGGER = logging.getLogger(__name__)

FIRST_BACKOFF_S = 5.0
MAX_BACKOFF_S = 300.0
SERVER_FIELDS = ("server_url", "server_model", "server_api_key_file", "server_timeout_s")
DEADLINE = "server-deadline"
"""The server was still writing at ``llm.reply_max_s``: the reply ends there, the local model does not start one."""


@dataclass
class ServerHealth:
    """Whether to try the server now, and what to report: a pure state machine on plain numbers.

    ``now`` is monotonic seconds; ``wall`` (for :attr:`last_ok_at`) Unix seconds.
    """

    first_backoff_s: float = FIRST_BACKOFF_S
    max_backoff_s: float = MAX_BACKOFF_S
    failures: int = 0
    """Consecutive failed tries."""
    retry_at: float = 0.0
    """Monotonic seconds before which the server is not tried."""
    last_error: str = ""
    last_ok_at: float | None = None
    tried: bool = False

    def due(self, now: float) -> bool:
        """May this turn try the server?"""
        return now >= self.retry_at

    def succeeded(self, wall: float) -> None:
        self.tried, self.failures, self.retry_at, self.last_ok_at = True, 0, 0.0, wall

    def failed(self, code: str, now: float) -> float:
        """Record a failure; returns the back-off before the next try (seconds)."""
        self.tried, self.failures, self.last_error = True, self.failures + 1, code
        backoff = min(self.first_backoff_s * 2 ** (self.failures - 1), self.max_backoff_s)
        self.retry_at = now + backoff
        return backoff

    def state(self, now: float) -> str:
        """ok (last try answered), backoff (failed; not tried again yet), down (failed; the next turn
        tries again), unknown (not tried since start-up)."""
        if not self.tried:
            return "unknown"
        if not self.failures:
            return "ok"
        return "backoff" if now < self.retry_at else "down"

    def snapshot(self, now: float) -> dict[str, Any]:
        return {
            "state": self.state(now),
            "last_error": self.last_error or None,
            "retry_in_s": round(max(self.retry_at - now, 0.0), 1) if self.failures else 0.0,
            "failures": self.failures,
            "last_ok_at": round(self.last_ok_at, 3) if self.last_ok_at is not None else None,
        }


class RoutedLlm(LanguageModel):
    """The LAN server for conversation replies while it answers, the local model otherwise."""

    def __init__(
        self,
        local: LanguageModel,
        settings: LlmSettings,
        *,
        server: ServerLlm | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.local = local
        """The local model: scoring, prefill, token counts, and every reply the server does not give."""
        self.server = server if server is not None or not settings.server_url else ServerLlm.from_settings(settings)
        self.health = ServerHealth()
        self.last = GenerationStats()
        self._clock = clock
        self._lock = threading.Lock()
        """Guards :attr:`health`: an abandoned speculative attempt may still be finishing on its thread."""

    # -- the local model's part, delegated -----------------------------------------------
    @property
    def settings(self) -> LlmSettings:
        return self.local.settings

    @settings.setter
    def settings(self, new: LlmSettings) -> None:
        """Reloaded settings: the local model's, and a new server client if a server setting changed."""
        old = self.local.settings
        if any(getattr(new, f) != getattr(old, f) for f in SERVER_FIELDS):
            self.server = ServerLlm.from_settings(new) if new.server_url else None  # may raise: nothing changed yet
            with self._lock:
                self.health = ServerHealth()
        elif self.server is not None:
            self.server.settings = new
        self.local.settings = new

    @property
    def name(self) -> str:
        return self.local.name

    def prefill(self, messages: list[Message], cancel: threading.Event | None = None, user_start: str = "") -> int:
        """The local model's, even while the server answers: it keeps the fallback's first token quick."""
        return self.local.prefill(messages, cancel, user_start)

    def count_tokens(self, text: str) -> int:
        return self.local.count_tokens(text)

    def score_continuations(self, messages: list[Message], continuations: list[str]) -> list[float]:
        return self.local.score_continuations(messages, continuations)

    # -- routing ----------------------------------------------------------------------
    def stream(
        self,
        messages: list[Message],
        cancel: threading.Event,
        *,
        max_tokens: int | None = None,
        may_run: threading.Event | None = None,
    ) -> Iterator[str]:
        """Blocking generator of reply text, from the server if it is configured and not backing off.

        ``may_run`` pauses only the local model: reading the server's stream costs the board nothing.
        Server text is passed on one whole sentence at a time (the sentence being
        written is held back).  So when the server dies or stalls mid-reply, the
        reply ends with the last complete sentence: nothing is repeated and no
        half sentence is spoken.  Continuing on the local model instead was
        rejected: a second, smaller model handed another model's half answer
        often starts the sentence over (a sentence said twice), and its prompt
        would no longer match its KV cache.  If the server fails before a
        whole sentence was passed on, nothing has been said yet, so the local
        model answers the turn from the start.  The cost of holding back is
        that speech starts at the server's first sentence end rather than its
        first clause, a few tokens on a server fast enough to be worth using.
        """
        server, now = self.server, self._clock()
        if server is None:
            yield from self._local(messages, cancel, max_tokens, may_run, "")
            return
        with self._lock:
            due, retry_in = self.health.due(now), self.health.retry_at - now
        if not due:
            _LOGGER.info("LLM server skipped (server-backoff, retry in %.0f s): the local model answers", retry_in)
            yield from self._local(messages, cancel, max_tokens, may_run, "server-backoff")
            return
        passed = 0
        try:
            for sentence in _whole_sentences(server.stream(messages, cancel, max_tokens=max_tokens), cancel):
                passed += 1
                yield sentence
        except LlmServerError as err:
            self._record_failure(err)
            if passed or err.code == DEADLINE:  # past llm.reply_max_s no model starts over
                self.last = replace(server.last, fallback=err.code)
                _LOGGER.info("LLM server failed mid-reply (%s): the reply ends after %d sentence(s)", err.code, passed)
                return
            _LOGGER.info("LLM server not used (%s): the local model answers", err.code)
            yield from self._local(messages, cancel, max_tokens, may_run, err.code)
            return
        self.last = server.last
        if cancel.is_set():
            if self.last.completion_tokens:  # it was answering: that much is known
                with self._lock:
                    self.health.succeeded(time.time())
            return
        with self._lock:
            self.health.succeeded(time.time())
        if not passed:
            _LOGGER.info("LLM server not used (server-empty): the local model answers")
            yield from self._local(messages, cancel, max_tokens, may_run, "server-empty")
            return
        _LOGGER.info(
            "LLM turn (server): first token %.3f s, %d generated%s",
            self.last.first_token_s,
            self.last.completion_tokens,
            " (cancelled)" if self.last.cancelled else "",
        )

    def _local(
        self,
        messages: list[Message],
        cancel: threading.Event,
        max_tokens: int | None,
        may_run: threading.Event | None,
        fallback: str,
    ) -> Iterator[str]:
        try:
            yield from self.local.stream(messages, cancel, max_tokens=max_tokens, may_run=may_run)
        finally:
            self.last = replace(self.local.last, backend="local", fallback=fallback)

    def _record_failure(self, err: LlmServerError) -> None:
        with self._lock:
            backoff = self.health.failed(err.code, self._clock())
        _LOGGER.debug("LLM server failure: %s; next try in %.0f s", err.message, backoff)

    # -- status -------------------------------------------------------------------------
    def server_status(self) -> dict[str, Any]:
        """``status``'s and ``state/health``'s ``llm_server``: the URL without credentials and the health."""
        if self.server is None:
            return {"url": None, "state": "off"}
        with self._lock:
            health = self.health.snapshot(self._clock())
        return {"url": self.server.url, **health}


def _whole_sentences(pieces: Iterator[str], cancel: threading.Event) -> Iterator[str]:
    """Pieces regrouped into whole sentences, each ending in a space; the rest when ``pieces`` ends (not cancelled)."""
    held = SentenceChunker(first_chunk_chars=0)
    for piece in pieces:
        for sentence in held.push(piece):
            yield sentence + " "
    rest = held.flush()
    if rest and not cancel.is_set():
        yield rest


class LlmServerFeature(Feature):
    """``llm_server`` in ``status`` (and so in MQTT's ``state/health``): off, or the router's server health."""

    name = "llm_server"

    def __init__(self, llm: Callable[[], object]) -> None:
        self._llm = llm
        """The running conversation LLM (a live model swap may replace a plain one)."""

    def status(self) -> Mapping[str, Any] | None:
        llm = self._llm()
        return llm.server_status() if isinstance(llm, RoutedLlm) else {"url": None, "state": "off"}
