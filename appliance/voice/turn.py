"""One conversation turn: listen → transcribe → think → speak, cancellable as a whole.

A :class:`Turn` sees the rest of the appliance only through its small
:class:`TurnContext`; the pipeline builds one and routes the front end's
capture messages into the turn's inbox.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from appliance.audio.sink import AudioSink
from appliance.core.bus import Bus
from appliance.core.errors import ApplianceError
from appliance.core.events import (
    SpeechEnded,
    SpeechStarted,
    Stage,
    Transcript,
    TranscriptPartial,
)
from appliance.core.handoff import call_soon
from appliance.engines.stt import SttEngine
from appliance.voice.arbiter import RequestHandoff
from appliance.voice.messages import (
    CaptureAudio,
    CaptureEnded,
    CaptureMessage,
    CaptureTimedOut,
    SpeechBegan,
    SpeechPaused,
    SpeechResumed,
)
from appliance.voice.reply import ReplyAttempt
from appliance.voice.speech import Speech
from appliance.voice.turn_record import Outcome, Source, TurnRecord
from appliance.voice.unfinished import unfinished

_LOGGER = logging.getLogger(__name__)


@dataclass
class TurnContext:
    """What a turn may use of the appliance (the pipeline provides it)."""

    bus: Bus
    stt: SttEngine
    sink: AudioSink
    sample_rate: int
    """Hertz of the TTS voice (what ``sink.play`` is given)."""
    listen_limit_s: float
    """A turn that hears nothing from the front end this long gives up."""
    set_stage: Callable[[Stage, int], None]
    new_attempt: Callable[[], ReplyAttempt]
    clean_transcript: Callable[[str], str]
    on_utterance: Callable[[np.ndarray], None]
    report: Callable[[ApplianceError, str], None]
    apologise: Callable[[], Awaitable[None]]
    remember: Callable[[str, str], None]
    speech_began: Callable[[], None] = lambda: None
    """The request's speech started: the LLM may evaluate the prompt's stable start meanwhile."""
    confirm_end: Callable[[int], None] = lambda capture_id: None
    """The turn took a provisionally ended capture's request: the front end stops listening to it."""
    hand_off: RequestHandoff | None = None
    """Another assistant that may answer spoken requests instead (``esphome.pipeline = home_assistant``)."""


class _SpeechResumed(Exception):
    """The speaker carried on after a provisional end that the turn had taken, before the reply was heard."""


@dataclass(frozen=True)
class _Transcribed:
    """The speculative attempt's transcript is in (posted to the turn's own inbox)."""

    attempt: ReplyAttempt


class Turn:
    """One request and its reply."""

    def __init__(self, ctx: TurnContext, record: TurnRecord, capture_id: int = 0) -> None:
        self.ctx = ctx
        self.record = record
        self.capture_id = capture_id
        self.inbox: asyncio.Queue[CaptureMessage | _Transcribed] = asyncio.Queue()
        self.attempt: ReplyAttempt | None = None
        self._likely_end: CaptureEnded | None = None
        """A provisional end waiting for the speculative transcript's check."""
        self._held: int | None = None
        """The capture whose provisional end the turn took while the front end still listens to it:
        until the reply's first audio is ready, speech resuming takes the end back."""
        self.task: asyncio.Task[None] | None = None
        self._stt_session: Any = None
        self._request = np.zeros(0, dtype=np.int16)
        """The request's whole audio (16 kHz mono int16), once its capture ended."""

    async def run_voice(self) -> None:
        await self._guard(self._voice())

    async def run_text(self, text: str, speak: bool = True) -> None:
        await self._guard(self._text(text, speak))

    async def _guard(self, body: Awaitable[None]) -> None:
        try:
            await body
        except asyncio.CancelledError:
            if self.record.outcome == Outcome.PENDING:
                self.record.outcome = Outcome.INTERRUPTED
            raise
        except ApplianceError as err:
            self.record.outcome = Outcome.FAILED
            self.ctx.report(err, "turn")
            await self.ctx.apologise()
        finally:
            if self.attempt is not None:
                await self.attempt.abandon()
            if self.record.outcome in (Outcome.INTERRUPTED, Outcome.CANCELLED):
                self.ctx.sink.stop()

    # -- listening ------------------------------------------------------------
    async def _voice(self) -> None:
        r = self.record
        self.ctx.set_stage(Stage.LISTENING, r.turn_id)
        while True:
            attempt = await self._listen()
            if attempt is None:
                r.outcome = Outcome.NO_SPEECH
                return
            if self.ctx.hand_off is not None:
                if await self._answered_elsewhere(attempt):
                    return
                attempt.commit()  # held uncommitted until then: no local action runs for a request answered elsewhere
            try:
                await self._respond(attempt)
                return
            except _SpeechResumed:
                pass
            # "It was the season of light, | it was the season of darkness": the pause at the comma
            # closed and the transcript read whole, but the speaker went on before a word was said.
            await attempt.abandon()
            self.attempt = None
            r.endpoint_resumed += 1
            _LOGGER.info("Turn %d: speech resumed before the reply; listening on", r.turn_id)
            _LOGGER.debug("Turn %d resumed after %r", r.turn_id, attempt.transcript)  # what was said: DEBUG only
            self.ctx.set_stage(Stage.LISTENING, r.turn_id)

    async def _listen(self) -> ReplyAttempt | None:
        ctx = self.ctx
        deadline = time.monotonic() + ctx.listen_limit_s
        while True:
            try:
                msg = await asyncio.wait_for(self.inbox.get(), timeout=max(deadline - time.monotonic(), 0.1))
            except asyncio.TimeoutError:
                _LOGGER.warning(
                    "Turn %d heard nothing from the front end for %.0f s", self.record.turn_id, ctx.listen_limit_s
                )
                return None
            match msg:
                case CaptureAudio():
                    await self._feed_stream(msg.audio)
                case SpeechBegan():
                    ctx.bus.publish(SpeechStarted(at_s=msg.at_s))
                    ctx.speech_began()
                case SpeechPaused() if ctx.stt.supports_speculation:
                    self.attempt = ctx.new_attempt()
                    self.attempt.on_transcribed = lambda attempt: self.inbox.put_nowait(_Transcribed(attempt))
                    self.attempt.start(transcribe=self._transcriber(msg.audio))
                case SpeechResumed():
                    self._likely_end = None
                    if self.attempt is not None:
                        await self.attempt.abandon()
                        self.attempt = None
                case CaptureEnded() if msg.provisional and self.attempt is not None:
                    self._likely_end = msg
                    if self.attempt.transcribed and (done := self._check_likely_end()) is not None:
                        return done
                case CaptureEnded():
                    self._likely_end = None
                    return self._commit_capture(msg)
                case _Transcribed() if msg.attempt is self.attempt and self._likely_end is not None:
                    if (done := self._check_likely_end()) is not None:
                        return done
                case CaptureTimedOut():
                    return None

    def _check_likely_end(self) -> ReplyAttempt | None:
        """The speculative transcript confirms the provisional end (commit) or leaves it open (listen on)."""
        msg, attempt = self._likely_end, self.attempt
        assert msg is not None and attempt is not None
        self._likely_end = None
        if unfinished(attempt.transcript):
            self.record.endpoint_reopened += 1
            n = len(attempt.transcript)
            _LOGGER.info("Turn %d: its %d characters do not end a request; listening on", self.record.turn_id, n)
            _LOGGER.debug("Turn %d so far: %r", self.record.turn_id, attempt.transcript)  # what was said: DEBUG only
            return None
        self._held = msg.capture_id  # confirmed with the front end once the reply is ready to play
        return self._commit_capture(msg)

    def _commit_capture(self, msg: CaptureEnded) -> ReplyAttempt:
        r = self.record
        r.speech_end_s = msg.speech_end_s
        r.speech_end_mono = msg.mono - (msg.at_s - msg.speech_end_s)
        r.endpoint_mono = msg.mono
        r.endpoint_at_s = msg.at_s
        r.endpoint_semantic, r.turn_probability = msg.semantic, msg.turn_probability
        self.ctx.bus.publish(SpeechEnded(at_s=msg.speech_end_s, endpoint_at_s=msg.at_s))
        r.speculated = self.attempt is not None
        if self.attempt is None:
            self.attempt = self.ctx.new_attempt()
            self.attempt.start(transcribe=self._final_transcriber(msg.audio))
        self._request = msg.audio
        if self.ctx.hand_off is None:
            self.attempt.commit()
        return self.attempt

    async def _answered_elsewhere(self, attempt: ReplyAttempt) -> bool:
        """Hand the request to the other assistant; True once its answer was played here."""
        assert self.ctx.hand_off is not None
        answer = await self.ctx.hand_off.hand_off(self._request, self.record)
        if answer is None:
            return False
        await attempt.abandon()
        self.attempt = None
        if self._held is not None:
            self.ctx.confirm_end(self._held)
            self._held = None
        self.ctx.set_stage(Stage.SPEAKING, self.record.turn_id)
        speech = Speech(self.ctx.sink, answer[1], failure="the answer could not be played")
        speech.play(answer[0])
        self.record.first_audio_mono = speech.first_audio_mono
        await speech.heard()
        self.record.outcome = Outcome.ANSWERED
        return True

    def _transcriber(self, audio: np.ndarray) -> Callable[[], Awaitable[str]]:
        async def transcribe() -> str:
            self.ctx.on_utterance(audio)
            result = await asyncio.to_thread(self.ctx.stt.transcribe, audio)
            self.record.stt_s, self.record.audio_s = result.seconds, result.audio_s
            return self.ctx.clean_transcript(result.text)

        return transcribe

    def _final_transcriber(self, audio: np.ndarray) -> Callable[[], Awaitable[str]]:
        if self._stt_session is None:
            return self._transcriber(audio)
        session = self._stt_session

        async def finish() -> str:
            self.ctx.on_utterance(audio)
            result = await asyncio.to_thread(session.finish)
            self.record.stt_s, self.record.audio_s = result.seconds, result.audio_s
            return self.ctx.clean_transcript(result.text)

        return finish

    async def _feed_stream(self, frame: np.ndarray) -> None:
        """Streaming engines (Vosk) decode while the user speaks and publish partials."""
        if self._stt_session is None:
            bus, loop = self.ctx.bus, asyncio.get_running_loop()

            def partial(text: str) -> None:
                call_soon(loop, bus.publish, TranscriptPartial(text=text))

            self._stt_session = self.ctx.stt.session(on_partial=partial)
        await asyncio.to_thread(self._stt_session.feed, frame)

    # -- responding -----------------------------------------------------------
    async def _text(self, text: str, speak: bool) -> None:
        self.attempt = self.ctx.new_attempt()
        self.attempt.start(text=text)
        self.attempt.commit()
        await self._respond(self.attempt, speak=speak)

    async def _respond(self, attempt: ReplyAttempt, speak: bool = True) -> None:
        ctx, r = self.ctx, self.record
        ctx.set_stage(Stage.THINKING, r.turn_id)
        speech = Speech(ctx.sink, ctx.sample_rate, failure="the reply could not be played")
        first = True
        async for chunk in self._chunks(attempt):
            if first:
                first = False
                self._publish_transcript(attempt)
                r.first_audio_mono = time.monotonic()
                ctx.set_stage(Stage.SPEAKING, r.turn_id)
            if speak:
                speech.play(chunk)
        if first:
            self._publish_transcript(attempt)
        self._collect(attempt)
        if attempt.error is not None:
            raise attempt.error
        if not r.transcript:
            r.outcome = Outcome.NO_SPEECH
            return
        if speak:
            r.playback_end_mono = await speech.played()
            speech.check_heard()
        r.outcome = Outcome.ANSWERED
        ctx.remember(r.transcript, r.reply)

    async def _chunks(self, attempt: ReplyAttempt) -> AsyncIterator[np.ndarray]:
        """The reply's audio.  While a provisional end is held, its first chunk races speech
        resuming (:class:`_SpeechResumed`); the front end stops listening once it is ready."""
        if self._held is not None:
            capture_id = self._held
            first = await self._first_unless_resumed(attempt, capture_id)
            self._held = None
            self.ctx.confirm_end(capture_id)
            if first is None:
                return
            yield first
        async for chunk in attempt.chunks():
            yield chunk

    async def _first_unless_resumed(self, attempt: ReplyAttempt, capture_id: int) -> np.ndarray | None:
        ready = asyncio.ensure_future(attempt.audio.get())
        resumed = asyncio.ensure_future(self._resumption(attempt, capture_id))
        try:
            await asyncio.wait({ready, resumed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (ready, resumed):
                task.cancel()
        if ready.done() and not ready.cancelled():
            return ready.result()  # the reply won (even in a tie): it is what the listener waits for
        raise _SpeechResumed

    async def _resumption(self, attempt: ReplyAttempt, capture_id: int) -> None:
        """Returns when the held capture's speech resumes and the reply can still be taken back."""
        while True:
            msg = await self.inbox.get()
            if isinstance(msg, SpeechResumed) and msg.capture_id == capture_id:
                if attempt.intent is None or attempt.intent.speculative:
                    return
                _LOGGER.info(
                    "Turn %d: speech resumed, but %s already acts; answering", self.record.turn_id, attempt.intent.name
                )

    def _publish_transcript(self, attempt: ReplyAttempt) -> None:
        if self.record.source != Source.TEXT and attempt.transcript:
            r = self.record
            self.ctx.bus.publish(Transcript(text=attempt.transcript, audio_s=r.audio_s, stt_s=r.stt_s or 0.0))

    def _collect(self, attempt: ReplyAttempt) -> None:
        r = self.record
        r.marks = attempt.marks
        r.transcript = attempt.transcript
        r.reply = attempt.reply_text
        if attempt.intent is not None:
            r.intent = attempt.intent.name
