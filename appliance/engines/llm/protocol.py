"""What a language model is to the rest of the appliance: the written interface, and a turn's figures.

- :class:`ReplySource` streams reply text and says how the last reply went;
  the LAN server's client (:class:`~appliance.engines.llm.server.ServerLlm`) is one.
- :class:`LanguageModel` is the conversation's model: a reply source that also
  prefills, counts tokens and scores continuations.  The local model
  (:class:`~appliance.engines.llm.local.LlamaLlm`) and the router in front of it and a
  LAN server (:class:`~appliance.engines.llm.router.RoutedLlm`) are the two.

Each of the three names its protocol as a base class, so mypy checks it against
the protocol where the class is written, and the steps that follow from :meth:`LanguageModel.stream` and
:meth:`LanguageModel.prefill` (the async stream, a prefill on its own thread,
the warm-up) are written once, here.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Protocol

from appliance.core.errors import LlmError
from appliance.core.workers import iterate_in_thread
from appliance.settings import LlmSettings

_LOGGER = logging.getLogger(__name__)

Message = dict[str, str]
"""One chat message: ``{"role": "system" | "user" | "assistant", "content": text}``."""


@dataclass
class GenerationStats:
    """How one reply was generated (a model's :attr:`~ReplySource.last`)."""

    prompt_tokens: int = 0
    evaluated_tokens: int = 0
    """Prompt tokens not served from the KV cache: what the first token waited for."""
    completion_tokens: int = 0
    first_token_s: float = 0.0
    """Seconds from the call to the first generated text."""
    total_s: float = 0.0
    cancelled: bool = False
    copies_dropped: int = 0
    """Starts of the reply that repeated an earlier reply and were generated again."""
    looped: bool = False
    """Generation stopped because the reply began to repeat itself."""
    backend: str = "local"
    """Who generated the reply: "local" (this model) or "server" (the LAN server, ``llm.server_url``)."""
    fallback: str = ""
    """Why the server did not answer a local reply (a coded reason such as ``server-timeout``), or empty."""

    @property
    def tokens_per_s(self) -> float:
        decode_s = self.total_s - self.first_token_s
        return (self.completion_tokens - 1) / decode_s if self.completion_tokens > 1 and decode_s > 0 else 0.0


class ReplySource(Protocol):
    """Streams reply text to chat messages: the local model, the LAN server, the router."""

    settings: LlmSettings
    last: GenerationStats
    """The figures of the last reply (the one being generated once it ends)."""

    def stream(
        self,
        messages: list[Message],
        cancel: threading.Event,
        *,
        max_tokens: int | None = None,
        may_run: threading.Event | None = None,
    ) -> Iterator[str]:
        """Blocking generator of reply text; call it on a worker thread.

        Setting ``cancel`` ends it at the next piece (barge-in); while ``may_run``
        is clear, a model that competes with the voice for the cores pauses.
        """
        ...


class LanguageModel(ReplySource, Protocol):
    """The conversation's model: replies, and the prompt work around them (prefill, token counts, scoring)."""

    @property
    def name(self) -> str:
        """Which model this is (the local model's file name without its suffix)."""
        ...

    def prefill(self, messages: list[Message], cancel: threading.Event | None = None, user_start: str = "") -> int:
        """Evaluate the start of the next prompt (``messages``, then a user turn opening with ``user_start``).

        Blocking; stops soon after ``cancel`` is set; returns the tokens evaluated.
        """
        ...

    def count_tokens(self, text: str) -> int:
        """Tokens in ``text`` by the model's own tokenizer."""
        ...

    def score_continuations(self, messages: list[Message], continuations: list[str]) -> list[float]:
        """Log-probability (nats) of each text as the start of the reply to ``messages``; blocking."""
        ...

    # -- what follows from the above, written once ----------------------------------------
    def system_messages(self) -> list[Message]:
        """The system prompt as the messages every conversation starts with (none when it is empty)."""
        prompt = self.settings.system_prompt
        return [{"role": "system", "content": prompt}] if prompt else []

    def warm_up(self) -> float:
        """Put the system prompt into the KV cache; returns seconds."""
        start = time.perf_counter()
        self.prefill(self.system_messages())
        return time.perf_counter() - start

    def start_prefill(self, messages: list[Message], user_start: str = "") -> threading.Event:
        """:meth:`prefill` on a thread of its own; set the returned event to cancel it."""
        cancel = threading.Event()

        def run() -> None:
            try:
                self.prefill(messages, cancel, user_start)
            except LlmError as err:
                _LOGGER.warning("Prefill failed (the turn evaluates it instead): %s", err)

        threading.Thread(target=run, name="llm-prefill", daemon=True).start()
        return cancel

    async def stream_reply(
        self, messages: list[Message], cancel: threading.Event, may_run: threading.Event | None = None
    ) -> AsyncIterator[str]:
        """:meth:`stream` as an async iterator for the event loop."""
        async for piece in iterate_in_thread(
            lambda: self.stream(messages, cancel, may_run=may_run), cancel, name="llm"
        ):
            yield piece
