"""One reply in the making: transcript → intent or LLM → sentences → speech, held until committed.

A :class:`ReplyAttempt` may start before the request is known to be over
(speculation after a short pause).  Everything it does before
:meth:`commit` is free of side effects: text and audio are produced into a
buffer, nothing is played or published.  If the speaker carries on, the
attempt is cancelled; if the endpoint confirms it, playback starts from what
is already synthesized.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from appliance.core.chunker import SentenceChunker, plain_text
from appliance.core.errors import ApplianceError
from appliance.engines.llm.protocol import GenerationStats, Message

_LOGGER = logging.getLogger(__name__)


@dataclass
class Intent:
    """A request handled without the LLM (home control, memory, time)."""

    name: str
    speech: str
    """What to say if ``action`` returns nothing."""
    action: Callable[[], Awaitable[str | None]] | None = None
    """Side effects, run only once the request is committed; may return the speech."""
    data: dict[str, object] = field(default_factory=dict)
    pure: bool = False
    """The action only reads (the time, a list): it may run, and its answer be synthesized, speculatively."""

    @property
    def speculative(self) -> bool:
        """Safe to answer before the request is committed: nothing happens to the world."""
        return self.action is None or self.pure


RECALLED = "memory.answer"
"""The intent name of a reply that is a remembered fact said back (``memory.answer_facts``)."""


class IntentMatcher(Protocol):
    def match(self, text: str) -> Intent | None: ...


class TextGenerator(Protocol):
    """What a reply needs of the LLM; every :class:`~appliance.engines.llm.protocol.LanguageModel` is one."""

    last: GenerationStats
    """The last reply's figures: :class:`Marks` keeps the tokens evaluated and who answered."""

    def stream_reply(
        self, messages: list[Message], cancel: threading.Event, may_run: threading.Event | None = None
    ) -> AsyncIterator[str]: ...


class Synthesizer(Protocol):
    sample_rate: int

    def synthesize_all(self, text: str) -> np.ndarray: ...


@dataclass
class Marks:
    """Monotonic timestamps of one attempt's milestones (None = not reached)."""

    started: float = 0.0
    stt_done: float | None = None
    llm_started: float | None = None
    llm_first_token: float | None = None
    llm_done: float | None = None
    first_chunk_text: float | None = None
    first_audio_ready: float | None = None
    tts_spans: list[tuple[float, float]] = field(default_factory=list)
    """(start, end) of each chunk's synthesis."""
    llm_tokens_evaluated: int | None = None
    """Prompt tokens the LLM evaluated for this reply (the rest came from its KV cache)."""
    llm_backend: str | None = None
    """Who generated the reply: "local" or "server" (the LAN server); None when no LLM did."""


class ReplyAttempt:
    """Produces a reply's speech into a buffer; plays nothing until committed."""

    def __init__(
        self,
        *,
        llm: TextGenerator,
        tts: Synthesizer,
        messages_for: Callable[[str], list[Message]],
        intents: list[IntentMatcher],
        first_chunk_chars: int,
        hold_chars: int = 0,
        recall: Callable[[str], str | None] | None = None,
    ) -> None:
        self._llm = llm
        self._tts = tts
        self._messages_for = messages_for
        self._intents = intents
        self._first_chunk_chars = first_chunk_chars
        self._hold_chars = hold_chars
        self._recall = recall
        """A remembered fact that answers the request word for word, instead of the LLM (blocking)."""
        self.cancel = threading.Event()
        self.llm_may_run = threading.Event()
        """Cleared while the first sentence is synthesized: on two cores the LLM, far ahead of
        speech anyway, would otherwise slow down the audio the listener is waiting for."""
        self.llm_may_run.set()
        self.committed = asyncio.Event()
        self.marks = Marks(started=time.monotonic())
        self.transcript = ""
        self.transcribed = False
        """The transcript is known (or transcribing failed)."""
        self.on_transcribed: Callable[[ReplyAttempt], None] | None = None
        """Called on the loop once :attr:`transcribed` turns true (the turn checks an early endpoint with it)."""
        self.intent: Intent | None = None
        self.reply_parts: list[str] = []
        self.audio: asyncio.Queue[np.ndarray | None] = asyncio.Queue()
        self.error: ApplianceError | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def reply_text(self) -> str:
        return " ".join(p.strip() for p in self.reply_parts if p.strip())

    def start(self, transcribe: Callable[[], Awaitable[str]] | None = None, text: str = "") -> None:
        """Begin: from audio (``transcribe``) or from known text."""
        self._task = asyncio.create_task(self._run(transcribe, text), name="reply-attempt")

    async def _run(self, transcribe: Callable[[], Awaitable[str]] | None, text: str) -> None:
        try:
            if transcribe is not None:
                try:
                    text = await transcribe()
                    self.marks.stt_done = time.monotonic()
                finally:
                    self.transcript = text.strip()
                    self._transcribed()
            else:
                self.transcript = text.strip()
            if not self.transcript:
                return
            self.intent = next((i for m in self._intents if (i := m.match(self.transcript)) is not None), None)
            if self.intent is not None:
                if not self.intent.speculative:
                    await self.committed.wait()  # this one acts on the world: only once committed
                await self._speak_intent(self.intent)
            elif self._recall is not None and (fact := await asyncio.to_thread(self._recall, self.transcript)):
                self.intent = Intent(RECALLED, fact, pure=True)
                await self._speak_intent(self.intent)
            else:
                await self._generate()
        except asyncio.CancelledError:
            raise
        except ApplianceError as err:
            self.error = err
        finally:
            self.audio.put_nowait(None)

    def _transcribed(self) -> None:
        self.transcribed = True
        if self.on_transcribed is not None:
            self.on_transcribed(self)

    async def _speak_intent(self, intent: Intent) -> None:
        speech = intent.speech
        if intent.action is not None:
            speech = (await intent.action()) or speech
        if speech.strip():  # "stop" and "never mind" are answered with silence
            self.reply_parts.append(speech)
            await self._synthesize(speech)

    async def _generate(self) -> None:
        chunker = SentenceChunker(self._first_chunk_chars, hold_chars=self._hold_chars)
        sentences: asyncio.Queue[str | None] = asyncio.Queue()
        speaker = asyncio.create_task(self._speak_sentences(sentences), name="reply-tts")
        self.marks.llm_started = time.monotonic()
        try:
            # Building the context may search the memory: keep it off the event loop.
            messages = await asyncio.to_thread(self._messages_for, self.transcript)
            async for piece in self._llm.stream_reply(messages, self.cancel, self.llm_may_run):
                if self.marks.llm_first_token is None:
                    self.marks.llm_first_token = time.monotonic()
                for sentence in chunker.push(piece):
                    sentences.put_nowait(sentence)
            rest = chunker.flush()
            if rest:
                sentences.put_nowait(rest)
            self.marks.llm_done = time.monotonic()
            stats = self._llm.last
            self.marks.llm_tokens_evaluated = stats.evaluated_tokens
            self.marks.llm_backend = stats.backend
        finally:
            sentences.put_nowait(None)
            await speaker

    async def _speak_sentences(self, sentences: asyncio.Queue[str | None]) -> None:
        last = ""
        while (sentence := await sentences.get()) is not None:
            if self.cancel.is_set():
                return
            said = plain_text(sentence)
            if said == last:  # "The cat is a cat. The cat is a cat.": a small model's stutter, said once
                continue
            last = said
            self.reply_parts.append(sentence)
            await self._synthesize(sentence)

    async def _synthesize(self, text: str) -> None:
        started = time.monotonic()
        first = self.marks.first_chunk_text is None
        if first:
            self.marks.first_chunk_text = started
            self.llm_may_run.clear()
        try:
            audio = await asyncio.to_thread(self._tts.synthesize_all, text)
        finally:
            self.llm_may_run.set()
        ended = time.monotonic()
        self.marks.tts_spans.append((started, ended))
        if self.marks.first_audio_ready is None:
            self.marks.first_audio_ready = ended
        if len(audio) and not self.cancel.is_set():
            self.audio.put_nowait(audio)

    async def chunks(self) -> AsyncIterator[np.ndarray]:
        """The reply's audio, in order, as it becomes ready."""
        while (chunk := await self.audio.get()) is not None:
            yield chunk

    def commit(self) -> None:
        self.committed.set()

    async def abandon(self) -> None:
        """Stop generating and drop everything (speech resumed, or barge-in)."""
        self.cancel.set()
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def finished(self) -> None:
        if self._task is not None:
            await asyncio.shield(self._task)
