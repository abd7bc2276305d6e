"""Conversation turns: wake → listen → transcribe → think → speak, one cancellable object each.

The :class:`Pipeline` receives the front end's decisions and runs one
:class:`Turn` at a time.  A wake word while a turn is thinking or speaking is
a barge-in: the turn is cancelled (generation stops, queued audio is dropped)
and a new turn starts listening at once.  Text requests (``ask``, ``say``)
are turns too, so a wake word interrupts them the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .audio.sink import AudioSink, earcon
from .bus import Bus
from .conversation import MessageSource
from .errors import ApplianceError
from .events import (
    ErrorRaised,
    Reply,
    SpeechEnded,
    SpeechStarted,
    Stage,
    StageChanged,
    Transcript,
    TranscriptPartial,
    TurnFinished,
    WakeDetected,
)
from .frontend import FrontEnd, FrontEndEvent
from .reply import IntentMatcher, Marks, ReplyAttempt, Synthesizer, TextGenerator
from .settings import Settings
from .stt import SttEngine

_LOGGER = logging.getLogger(__name__)

SORRY = "Sorry, something went wrong."
CAPTURE_KINDS = frozenset({"started", "speculate", "resumed", "ended", "timeout", "max_length", "audio"})


@dataclass
class TurnRecord:
    """What happened in one turn, with monotonic timestamps (None = not reached)."""

    turn_id: int
    source: str
    """``voice``, ``listen`` or ``text``."""
    wake_model: str = ""
    wake_score: float = 0.0
    wake_at_s: float | None = None
    wake_mono: float | None = None
    speech_end_s: float | None = None
    speech_end_mono: float | None = None
    endpoint_mono: float | None = None
    endpoint_at_s: float | None = None
    transcript: str = ""
    reply: str = ""
    outcome: str = "pending"
    speculated: bool = False
    stt_s: float | None = None
    audio_s: float = 0.0
    """Seconds of request audio that were transcribed."""
    llm_first_token_s: float | None = None
    tts_first_audio_s: float | None = None
    first_audio_mono: float | None = None
    done_mono: float | None = None
    playback_end_mono: float | None = None
    marks: Marks | None = None
    """The reply attempt's milestones (for the benchmark's timeline plot)."""
    extra: dict[str, Any] = field(default_factory=dict)

    def timings(self) -> dict[str, float | None]:
        """Per-stage seconds (internal view; converse adds ground-truth ones)."""

        def diff(a: float | None, b: float | None) -> float | None:
            return round(a - b, 4) if a is not None and b is not None else None

        return {
            "endpoint_delay_s": diff(self.endpoint_mono, self.speech_end_mono),
            "stt_s": self.stt_s,
            "llm_first_token_s": self.llm_first_token_s,
            "tts_first_audio_s": self.tts_first_audio_s,
            "end_of_speech_to_first_audio_s": diff(self.first_audio_mono, self.speech_end_mono),
        }


class Turn:
    """One request and its reply."""

    def __init__(self, pipeline: Pipeline, record: TurnRecord, capture_id: int = 0) -> None:
        self.p = pipeline
        self.record = record
        self.capture_id = capture_id
        self.inbox: asyncio.Queue[FrontEndEvent] = asyncio.Queue()
        self.attempt: ReplyAttempt | None = None
        self.task: asyncio.Task[None] | None = None
        self._stt_session: Any = None

    async def run_voice(self) -> None:
        await self._guard(self._voice())

    async def run_text(self, text: str, speak: bool = True) -> None:
        await self._guard(self._text(text, speak))

    async def _guard(self, body: Awaitable[None]) -> None:
        try:
            await body
        except asyncio.CancelledError:
            self.record.outcome = "interrupted" if self.record.outcome == "pending" else self.record.outcome
            raise
        except ApplianceError as err:
            self.record.outcome = "failed"
            self.p.report(err, stage="turn")
            await self.p.apologise()
        finally:
            if self.attempt is not None:
                await self.attempt.abandon()
            if self.record.outcome in ("interrupted", "cancelled"):
                self.p.sink.stop()
            self.p.finish_turn(self)

    # -- listening ------------------------------------------------------------
    async def _voice(self) -> None:
        self.p.set_stage(Stage.LISTENING, self.record.turn_id)
        attempt = await self._listen()
        if attempt is None:
            self.record.outcome = "no-speech"
            return
        await self._respond(attempt)

    async def _listen(self) -> ReplyAttempt | None:
        p = self.p
        limit = p.settings.vad.no_speech_timeout_s + p.settings.vad.max_utterance_s + 10.0
        deadline = time.monotonic() + limit
        while True:
            try:
                ev = await asyncio.wait_for(self.inbox.get(), timeout=max(deadline - time.monotonic(), 0.1))
            except asyncio.TimeoutError:
                _LOGGER.warning("Turn %d heard nothing from the front end for %.0f s", self.record.turn_id, limit)
                return None
            if ev.kind == "audio":
                await self._feed_stream(ev.audio)
            elif ev.kind == "started":
                p.bus.publish(SpeechStarted(at_s=ev.at_s))
            elif ev.kind == "speculate" and p.stt.supports_speculation:
                self.attempt = p.new_attempt()
                self.attempt.start(transcribe=self._transcriber(ev.audio))
            elif ev.kind == "resumed" and self.attempt is not None:
                await self.attempt.abandon()
                self.attempt = None
            elif ev.kind in ("ended", "max_length"):
                return self._commit_capture(ev)
            elif ev.kind == "timeout":
                return None

    def _commit_capture(self, ev: FrontEndEvent) -> ReplyAttempt:
        r = self.record
        r.speech_end_s = ev.speech_end_s
        r.speech_end_mono = ev.mono - (ev.at_s - ev.speech_end_s)
        r.endpoint_mono = ev.mono
        r.endpoint_at_s = ev.at_s
        self.p.bus.publish(SpeechEnded(at_s=ev.speech_end_s, endpoint_at_s=ev.at_s))
        r.speculated = self.attempt is not None
        if self.attempt is None:
            self.attempt = self.p.new_attempt()
            self.attempt.start(transcribe=self._final_transcriber(ev.audio))
        self.attempt.commit()
        return self.attempt

    def _transcriber(self, audio: np.ndarray | None) -> Callable[[], Awaitable[str]]:
        async def transcribe() -> str:
            assert audio is not None
            self.p.utterance(audio)
            result = await asyncio.to_thread(self.p.stt.transcribe, audio)
            self.record.stt_s, self.record.audio_s = result.seconds, result.audio_s
            return self.p.clean_transcript(result.text)

        return transcribe

    def _final_transcriber(self, audio: np.ndarray | None) -> Callable[[], Awaitable[str]]:
        if self._stt_session is None:
            return self._transcriber(audio)
        session = self._stt_session

        async def finish() -> str:
            if audio is not None:
                self.p.utterance(audio)
            result = await asyncio.to_thread(session.finish)
            self.record.stt_s, self.record.audio_s = result.seconds, result.audio_s
            return self.p.clean_transcript(result.text)

        return finish

    async def _feed_stream(self, frame: np.ndarray | None) -> None:
        """Streaming engines (Vosk) decode while the user speaks and publish partials."""
        if frame is None:
            return
        if self._stt_session is None:
            bus, loop = self.p.bus, asyncio.get_running_loop()

            def partial(text: str) -> None:
                loop.call_soon_threadsafe(bus.publish, TranscriptPartial(text=text))

            self._stt_session = self.p.stt.session(on_partial=partial)
        await asyncio.to_thread(self._stt_session.feed, frame)

    # -- responding -----------------------------------------------------------
    async def _text(self, text: str, speak: bool) -> None:
        self.attempt = self.p.new_attempt()
        self.attempt.start(text=text)
        self.attempt.commit()
        await self._respond(self.attempt, speak=speak)

    async def _respond(self, attempt: ReplyAttempt, speak: bool = True) -> None:
        p, r = self.p, self.record
        p.set_stage(Stage.THINKING, r.turn_id)
        first = True
        async for chunk in attempt.chunks():
            if first:
                first = False
                self._publish_transcript(attempt)
                r.first_audio_mono = time.monotonic()
                p.set_stage(Stage.SPEAKING, r.turn_id)
            if speak:
                p.sink.play(chunk, p.tts.sample_rate)
        if first:
            self._publish_transcript(attempt)
        self._collect(attempt)
        if attempt.error is not None:
            raise attempt.error
        if not r.transcript:
            r.outcome = "no-speech"
            return
        if speak:
            await asyncio.to_thread(p.sink.wait_done, 120.0)
            r.playback_end_mono = time.monotonic()
        r.outcome = "answered"
        p.remember(r.transcript, r.reply)

    def _publish_transcript(self, attempt: ReplyAttempt) -> None:
        if self.record.source != "text" and attempt.transcript:
            r = self.record
            self.p.bus.publish(Transcript(text=attempt.transcript, audio_s=r.audio_s, stt_s=r.stt_s or 0.0))

    def _collect(self, attempt: ReplyAttempt) -> None:
        r, m = self.record, attempt.marks
        r.marks = m
        r.transcript = attempt.transcript
        r.reply = attempt.reply_text
        if m.llm_first_token is not None and m.llm_started is not None:
            r.llm_first_token_s = round(m.llm_first_token - m.llm_started, 4)
        if m.first_audio_ready is not None and m.first_chunk_text is not None:
            r.tts_first_audio_s = round(m.first_audio_ready - m.first_chunk_text, 4)
        if attempt.intent is not None:
            r.extra["intent"] = attempt.intent.name


class Pipeline:
    """Routes front-end decisions and commands to turns; owns the stage."""

    def __init__(
        self,
        *,
        settings: Settings,
        frontend: FrontEnd,
        stt: SttEngine,
        llm: TextGenerator,
        tts: Synthesizer,
        sink: AudioSink,
        bus: Bus,
        conversation: MessageSource,
        intents: list[IntentMatcher] | None = None,
    ) -> None:
        self.settings = settings
        self.frontend = frontend
        self.stt = stt
        self.llm = llm
        self.tts = tts
        self.sink = sink
        self.bus = bus
        self.conversation = conversation
        self.intents = intents or []
        self.stage = Stage.IDLE
        self.turn: Turn | None = None
        self.history: list[TurnRecord] = []
        self.earcon = settings.audio.earcon
        self.hold_chars = 0
        """Reply text held back before speaking starts (0; the benchmark's baseline sets 60)."""
        self._inbox: asyncio.Queue[FrontEndEvent] = asyncio.Queue()
        self._text_lock = asyncio.Lock()
        self._turn_ids = 0
        self._wake_words = tuple(settings.wake.models)
        self.on_turn_finished: list[Callable[[TurnRecord], None]] = []
        self.on_utterance: list[Callable[[np.ndarray], None]] = []
        """Called on the loop with a request's audio as its transcription starts; must return at once."""
        self.frontend_eof = asyncio.Event()
        self.ping_answered = 0.0
        """Monotonic stamp of the last liveness ping this loop echoed (see app._liveness_loop)."""
        frontend.stream_capture = not stt.supports_speculation

    # -- plumbing ---------------------------------------------------------------
    def frontend_event(self, ev: FrontEndEvent) -> None:
        """Called on the event loop (the front end hands over with call_soon_threadsafe)."""
        self._inbox.put_nowait(ev)

    async def run(self) -> None:
        """Consume front-end decisions forever."""
        while True:
            ev = await self._inbox.get()
            await self._dispatch(ev)

    async def _dispatch(self, ev: FrontEndEvent) -> None:
        if ev.kind == "wake":
            await self._on_wake(ev)
        elif ev.kind in CAPTURE_KINDS:
            if self.turn is not None and self.turn.capture_id == ev.capture_id:
                self.turn.inbox.put_nowait(ev)
        elif ev.kind == "eof":
            self.frontend_eof.set()
        elif ev.kind == "ping":
            self.ping_answered = ev.mono

    async def _on_wake(self, ev: FrontEndEvent) -> None:
        assert ev.detection is not None
        barge_in = self.turn is not None and self.stage in (Stage.THINKING, Stage.SPEAKING)
        self.bus.publish(
            WakeDetected(
                model=ev.detection.model, score=ev.detection.score, at_s=ev.detection.at_s, during_reply=barge_in
            )
        )
        await self.interrupt()
        if self.earcon:
            self.sink.play(earcon(self.tts.sample_rate), self.tts.sample_rate)
        record = self._record("voice")
        record.wake_model, record.wake_score = ev.detection.model, ev.detection.score
        record.wake_at_s, record.wake_mono = ev.detection.at_s, ev.mono
        self._start_voice_turn(record, ev.capture_id)

    def _start_voice_turn(self, record: TurnRecord, capture_id: int) -> None:
        turn = Turn(self, record, capture_id)
        self.turn = turn
        turn.task = asyncio.create_task(turn.run_voice(), name=f"turn-{record.turn_id}")

    def _record(self, source: str) -> TurnRecord:
        self._turn_ids += 1
        return TurnRecord(self._turn_ids, source)

    def new_attempt(self) -> ReplyAttempt:
        return ReplyAttempt(
            llm=self.llm,
            tts=self.tts,
            messages_for=self.conversation.messages,
            intents=self.intents,
            first_chunk_chars=self.settings.tts.first_chunk_chars,
            hold_chars=self.hold_chars,
        )

    def set_stage(self, stage: Stage, turn_id: int = 0) -> None:
        if stage != self.stage:
            self.stage = stage
            self.frontend.during_reply = stage in (Stage.THINKING, Stage.SPEAKING)
            self.bus.publish(StageChanged(stage=stage, turn_id=turn_id))

    def finish_turn(self, turn: Turn) -> None:
        r = turn.record
        r.done_mono = time.monotonic()
        self.history.append(r)
        del self.history[:-50]
        if r.outcome == "answered" or r.reply:
            self.bus.publish(Reply(text=r.reply, interrupted=r.outcome != "answered", turn_id=r.turn_id))
        self.bus.publish(
            TurnFinished(
                turn_id=r.turn_id,
                outcome=r.outcome,
                transcript=r.transcript,
                reply=r.reply,
                timings=_clean(r.timings()),
            )
        )
        for callback in self.on_turn_finished:
            callback(r)
        if self.turn is turn:
            self.turn = None
            self.set_stage(Stage.IDLE, r.turn_id)

    def report(self, err: ApplianceError, *, stage: str) -> None:
        _LOGGER.error("%s failed: %s", stage, err)
        self.bus.publish(ErrorRaised(code=err.code, message=err.message, stage=stage))

    async def apologise(self) -> None:
        """Say that something failed (best effort: the voice itself may be what failed)."""
        try:
            audio = await asyncio.to_thread(self.tts.synthesize_all, SORRY)
        except ApplianceError:
            return
        self.sink.play(audio, self.tts.sample_rate)

    def utterance(self, audio: np.ndarray) -> None:
        for callback in self.on_utterance:
            callback(audio)

    def remember(self, user: str, reply: str) -> None:
        self.conversation.add(user, reply)

    def clean_transcript(self, text: str) -> str:
        return strip_wake_words(text, self._wake_words)

    # -- commands ------------------------------------------------------------------
    async def interrupt(self) -> bool:
        """Cancel whatever turn is running (barge-in, stop button); True if one was."""
        turn = self.turn
        if turn is None or turn.task is None or turn.task.done():
            return False
        if turn.capture_id:
            self.frontend.cancel_capture(turn.capture_id)
        turn.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await turn.task
        self.sink.stop()
        return True

    def listen(self) -> int:
        """Start a voice turn as if the wake word was heard (push-to-talk); returns the turn id."""
        record = self._record("listen")
        capture_id = self.frontend.request_capture(after_wake=False)
        self._start_voice_turn(record, capture_id)
        return record.turn_id

    async def ask(self, text: str, *, speak: bool = True) -> TurnRecord:
        """A text request answered like a spoken one (intents, then the LLM)."""
        return await self._text_turn(text, speak=speak)

    async def say(self, text: str) -> TurnRecord:
        """Speak ``text`` verbatim."""
        async with self._text_lock:
            await self._wait_idle()
            record = self._record("text")
            record.reply = text
            turn = Turn(self, record)
            self.turn = turn
            turn.task = asyncio.create_task(self._say(turn, text), name=f"say-{record.turn_id}")
            await asyncio.wait({turn.task})
            return record

    async def _say(self, turn: Turn, text: str) -> None:
        try:
            self.set_stage(Stage.SPEAKING, turn.record.turn_id)
            audio = await asyncio.to_thread(self.tts.synthesize_all, text)
            turn.record.first_audio_mono = time.monotonic()
            self.sink.play(audio, self.tts.sample_rate)
            await asyncio.to_thread(self.sink.wait_done, 120.0)
            turn.record.outcome = "answered"
        except asyncio.CancelledError:
            turn.record.outcome = "interrupted"
            self.sink.stop()
        except ApplianceError as err:
            turn.record.outcome = "failed"
            self.report(err, stage="tts")
        finally:
            self.finish_turn(turn)

    async def _text_turn(self, text: str, *, speak: bool) -> TurnRecord:
        async with self._text_lock:
            await self._wait_idle()
            record = self._record("text")
            turn = Turn(self, record)
            self.turn = turn
            turn.task = asyncio.create_task(turn.run_text(text, speak), name=f"ask-{record.turn_id}")
            await asyncio.wait({turn.task})
            return record

    async def _wait_idle(self) -> None:
        while self.turn is not None and self.turn.task is not None:
            await asyncio.wait({self.turn.task})


def strip_wake_words(text: str, wake_words: tuple[str, ...]) -> str:
    """Drop a wake phrase that leaked into the start of a transcript ("Jarvis, what time…")."""
    words = {w for name in wake_words for w in re.split(r"[_\W]+", name.lower()) if w}
    tokens = text.strip().split()
    stripped = False
    while len(tokens) > 1 and re.sub(r"\W", "", tokens[0].lower()) in words | {"hey", "ok", "okay"}:
        tokens.pop(0)
        stripped = True
    cleaned = " ".join(tokens)
    return cleaned[:1].upper() + cleaned[1:] if stripped else cleaned


def _clean(timings: dict[str, float | None]) -> dict[str, float]:
    return {k: v for k, v in timings.items() if v is not None}
