"""One reply in the making: transcript → intent or LLM → sentences → speech, held until committed.

A :class:`ReplyAttempt` may start before the request is known to be over
(speculation after a short pause).  Everything it does before
:meth:`commit` is free of side effects: text and audio are produced into a
buffer, nothing is played or published.  If the speaker carries on, the
attempt is cancelled; if the endpoint confirms it, playback starts from what
is already synthesized.

A reply is bounded whatever the model does: its text is cleaned of control
characters as it arrives (:func:`~appliance.core.control_chars.strip_control_chars`),
sentences wait for the voice in a queue of :data:`SENTENCES_AHEAD` (so a model that
writes faster than the voice speaks is held back instead of piling up), and
``reply_max_s`` (``llm.reply_max_s``) is the reply's deadline, counted to the end
of its speech: no sentence is begun once the speech already given to the voice
would play past it, and none at all past it by the clock.  The model is then
stopped, the sentences written after the last one said are dropped, and the
reply ends there as if the model had stopped.  The audio queue needs no bound of
its own: it holds at most what the voice synthesized within that deadline.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from appliance.core.chunker import SentenceChunker, plain_text
from appliance.core.control_chars import strip_control_chars
from appliance.core.errors import ApplianceError
from appliance.engines.llm.protocol import GenerationStats, Message
from appliance.voice.reply_check import ReplyCheck
from appliance.voice.reply_checker import DIDNT_CATCH, ReplyChecker

_LOGGER = logging.getLogger(__name__)
_MATCHING = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="intents")
"""One thread matches requests, one at a time: off the event loop (the semantic layer runs a model), and
never two at once, so the matchers need no locks of their own."""

SENTENCES_AHEAD = 4
"""Written sentences waiting for the voice; a writer further ahead waits (and so does the model)."""


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
    expect: Callable[[], str] | None = None
    """What ``action`` will most likely say, read without acting ("Timer set for 10 minutes."): synthesized
    while the request is not yet committed, and played only if the action says exactly that."""

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
    llm_cut: bool = False
    """The reply reached ``reply_max_s`` while being written: it ends after the last sentence given to the voice."""
    reply_check: str = ""
    """What the reply check did to the LLM's reply: "passed", "rewritten", "gave-up" or "trimmed" ("": no check)."""


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
        reply_max_s: float | None = None,
        checker: ReplyChecker | None = None,
    ) -> None:
        self._llm = llm
        self._checker = checker
        """Checks each piece of an LLM reply before it is spoken (:mod:`appliance.voice.reply_check`)."""
        self._tts = tts
        self._messages_for = messages_for
        self._intents = intents
        self._first_chunk_chars = first_chunk_chars
        self._hold_chars = hold_chars
        self._recall = recall
        """A remembered fact that answers the request word for word, instead of the LLM (blocking)."""
        self._reply_max_s = reply_max_s
        """Seconds from the start of the LLM's reply to the end of its speech (None: no deadline)."""
        self._deadline = float("inf")
        """Monotonic seconds: :attr:`_reply_max_s` after the LLM started."""
        self._speech_ends = 0.0
        """Monotonic seconds when the audio synthesized so far will have played, if played as it is ready."""
        self.cancel = threading.Event()
        self.llm_stop = threading.Event()
        """Set to stop the LLM: barge-in (with :attr:`cancel`) or the reply's deadline (on its own)."""
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
        self._expected = ""
        """The matched intent's likely speech (:attr:`Intent.expect`), read on the matching thread."""
        self.reply_parts: list[str] = []
        self.audio: asyncio.Queue[np.ndarray | None] = asyncio.Queue()
        self.error: ApplianceError | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def reply_text(self) -> str:
        return " ".join(p.strip() for p in self.reply_parts if p.strip())

    def _match(self, text: str) -> Intent | None:
        """The first matcher's intent (on the matching thread: the semantic layer embeds the text), and
        what it will most likely say when it acts."""
        intent = next((i for m in self._intents if (i := m.match(text)) is not None), None)
        if intent is not None and intent.expect is not None and not intent.speculative:
            try:
                self._expected = strip_control_chars(intent.expect()).strip()
            except Exception:  # only a guess: the action still says what it did
                _LOGGER.exception("Reading the likely answer of %s failed", intent.name)
        return intent

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
                    self.transcript = strip_control_chars(text).strip()
                    self._transcribed()
            else:
                self.transcript = strip_control_chars(text).strip()
            if not self.transcript:
                return
            self.intent = await asyncio.get_running_loop().run_in_executor(_MATCHING, self._match, self.transcript)
            if self.intent is not None:
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
        """Run the intent's action (once committed, unless it only reads) and say its answer.

        An intent that acts says what it did only after doing it; its likely answer is synthesized
        meanwhile, from the match on, and played if the action says just that.
        """
        ahead = None
        if not intent.speculative and self._expected:
            ahead = (self._expected, time.monotonic(), self._synthesis(self._expected))
        try:
            if not intent.speculative:
                await self.committed.wait()  # this one acts on the world: only once committed
            speech = intent.speech
            if intent.action is not None:
                speech = (await intent.action()) or speech
            speech = strip_control_chars(speech)  # a device's or a fact's name may carry them too
            if speech.strip():  # "stop" and "never mind" are answered with silence
                self.reply_parts.append(speech)
                guessed = ahead is not None and ahead[0] == speech.strip()
                await self._synthesize(speech, ahead=ahead[1:] if ahead is not None and guessed else None)
        finally:
            if ahead is not None:
                ahead[2].cancel()  # unused (or already done): its audio is dropped

    def _synthesis(self, text: str) -> asyncio.Future[np.ndarray]:
        """``text`` synthesized on a worker thread, starting now (a failure counts only where it is awaited)."""
        future = asyncio.ensure_future(asyncio.to_thread(self._tts.synthesize_all, text))
        future.add_done_callback(lambda done: done.cancelled() or done.exception())  # an unused guess: no warning
        return future

    async def _generate(self) -> None:
        sentences: asyncio.Queue[str | None] = asyncio.Queue(SENTENCES_AHEAD)
        speaker = asyncio.create_task(self._speak_sentences(sentences), name="reply-tts")
        self.marks.llm_started = time.monotonic()
        if self._reply_max_s is not None:
            self._deadline = self.marks.llm_started + self._reply_max_s
        try:
            try:
                await asyncio.wait_for(self._write(sentences), self._reply_max_s)
            except asyncio.TimeoutError:
                self._cut("the clock")  # the speaker drops what is still queued
            self.marks.llm_done = time.monotonic()
            stats = self._llm.last
            self.marks.llm_tokens_evaluated = stats.evaluated_tokens
            self.marks.llm_backend = stats.backend
        finally:
            await sentences.put(None)  # the speaker drains to the end, so there is room soon
            await speaker

    async def _write(self, sentences: asyncio.Queue[str | None]) -> None:
        """The LLM's reply, cleaned, cut into sentences and checked, into ``sentences`` (waiting while it is full).

        A reply whose first piece fails its check is generated again without the notes (the system
        prompt and the request alone); if that fails too, the reply is :data:`DIDNT_CATCH`.  A later
        piece that fails ends the reply before it: what was given to the voice stands.
        """
        # Building the context may search the memory: keep it off the event loop.
        messages = await asyncio.to_thread(self._messages_for, self.transcript)
        if self._checker is None:
            await self._stream(messages, None, sentences)
            return
        checker = self._checker
        failed = await self._stream(messages, checker.begin(self.transcript, messages), sentences)
        if failed is None or failed[1]:
            self.marks.reply_check = checker.record(failed, retried=False)
            return
        if self.cancel.is_set() or self.marks.llm_cut:
            return
        self.llm_stop = threading.Event()  # the first generation was stopped; this one starts afresh
        bare = checker.without_notes(messages)
        again = await self._stream(bare, checker.begin(self.transcript, bare), sentences)
        self.marks.reply_check = checker.record(failed, retried=True, again=again)
        if again is not None and not again[1] and not (self.cancel.is_set() or self.marks.llm_cut):
            await sentences.put(DIDNT_CATCH)

    async def _stream(
        self, messages: list[Message], check: ReplyCheck | None, sentences: asyncio.Queue[str | None]
    ) -> tuple[str, int] | None:
        """One generation into ``sentences``; (reason, pieces given before it) of the first piece that fails
        ``check`` (the model is stopped there), or None."""
        chunker = SentenceChunker(self._first_chunk_chars, hold_chars=self._hold_chars)
        stream = self._llm.stream_reply(messages, self.llm_stop, self.llm_may_run)
        given, before = 0, ""
        try:
            async for piece in stream:
                if self.marks.llm_first_token is None:
                    self.marks.llm_first_token = time.monotonic()
                for sentence in chunker.push(strip_control_chars(piece)):
                    if check is not None and (why := check.check(sentence, before)) is not None:
                        self.llm_stop.set()
                        _LOGGER.debug("Failed the reply check (%s): %r", why, sentence)  # what was said: DEBUG only
                        return why, given
                    before, given = sentence, given + 1
                    await sentences.put(sentence)
        finally:
            close = getattr(stream, "aclose", None)
            if close is not None:
                await close()  # the model's thread stops now, not when the generator is collected
        rest = chunker.flush()
        if rest and check is not None and (why := check.check(rest, before)) is not None:
            _LOGGER.debug("Failed the reply check (%s): %r", why, rest)  # what was said: DEBUG only
            return why, given
        if rest:
            await sentences.put(rest)
        return None

    def _cut(self, by: str) -> None:
        """End the reply at its deadline: stop the LLM; what is said so far is the reply."""
        if not self.marks.llm_cut:
            self.marks.llm_cut = True
            self.llm_stop.set()
            _LOGGER.info("Reply cut at llm.reply_max_s = %g s (by %s), after a whole sentence", self._reply_max_s, by)

    async def _speak_sentences(self, sentences: asyncio.Queue[str | None]) -> None:
        """Synthesize each sentence; after a cancel, a failure or the deadline, drain the rest unsaid (the writer
        never waits on a speaker that has stopped) and stop the LLM."""
        last, failure = "", None
        while (sentence := await sentences.get()) is not None:
            if self._speech_ends >= self._deadline:
                self._cut("the speech")
            if self.cancel.is_set() or failure is not None or self.marks.llm_cut:
                continue
            said = plain_text(sentence)
            if said == last:  # "The cat is a cat. The cat is a cat.": a small model's stutter, said once
                continue
            last = said
            self.reply_parts.append(sentence)
            try:
                await self._synthesize(sentence)
            except ApplianceError as err:
                failure = err
                self.llm_stop.set()
        if failure is not None:
            raise failure

    async def _synthesize(self, text: str, ahead: tuple[float, asyncio.Future[np.ndarray]] | None = None) -> None:
        """Synthesize ``text`` and queue its audio; ``ahead``: (when it began, its synthesis) already under way."""
        started = time.monotonic() if ahead is None else ahead[0]
        first = self.marks.first_chunk_text is None
        if first:
            self.marks.first_chunk_text = started
            self.llm_may_run.clear()
        try:
            audio = await (ahead[1] if ahead is not None else asyncio.to_thread(self._tts.synthesize_all, text))
        finally:
            self.llm_may_run.set()
        ended = time.monotonic()
        self._speech_ends = max(self._speech_ends, ended) + len(audio) / self._tts.sample_rate
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
        self.llm_stop.set()
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def finished(self) -> None:
        if self._task is not None:
            await asyncio.shield(self._task)
