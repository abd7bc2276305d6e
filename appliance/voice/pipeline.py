"""Routes the front end's decisions and the commands to turns, one at a time; owns the stage.

The :class:`Pipeline` receives the front end's messages (:mod:`appliance.voice.messages`)
in its inbox and runs one :class:`~appliance.voice.turn.Turn` at a time.  A wake word
while a turn is thinking or speaking is a barge-in: the turn is cancelled
(generation stops, queued audio is dropped) and a new turn starts listening at
once.  Text requests (``ask``, ``say``) are turns too, so a wake word
interrupts them the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any

import numpy as np

from appliance.audio.sink import AudioSink, earcon
from appliance.core.bus import Bus
from appliance.core.errors import ApplianceError
from appliance.core.events import (
    CaptureStatus,
    ErrorRaised,
    Reply,
    Stage,
    StageChanged,
    TurnFinished,
    WakeDetected,
)
from appliance.engines.llm.protocol import LanguageModel
from appliance.engines.stt import SttEngine
from appliance.settings import Settings
from appliance.voice.arbiter import RequestHandoff, WakeArbiter
from appliance.voice.conversation import MessageSource
from appliance.voice.frontend import FrontEnd
from appliance.voice.inbox import Inbox
from appliance.voice.messages import (
    CaptureMessage,
    FrontEndMessage,
    InputEnded,
    InputStatus,
    LivenessPing,
    WakeHeard,
)
from appliance.voice.reply import (
    IntentMatcher,
    ReplyAttempt,
    Synthesizer,
)
from appliance.voice.reply_checker import ReplyChecker, zone_clock
from appliance.voice.speech import Speech
from appliance.voice.turn import Turn, TurnContext
from appliance.voice.turn_record import Outcome, Source, TurnRecord

_LOGGER = logging.getLogger(__name__)

SORRY = "Sorry, something went wrong."
HISTORY = 50
"""Finished turns kept for ``status`` and the benchmarks."""
LISTEN_EARCON_FLOOR = 30
"""Volume (%) the earcon of a remote or push-to-talk capture never drops below."""


class Pipeline:
    """Routes front-end messages and commands to turns; owns the stage."""

    def __init__(
        self,
        *,
        settings: Settings,
        frontend: FrontEnd,
        inbox: Inbox,
        stt: SttEngine,
        llm: LanguageModel,
        tts: Synthesizer,
        sink: AudioSink,
        bus: Bus,
        conversation: MessageSource,
        intents: list[IntentMatcher] | None = None,
        arbiter: WakeArbiter | None = None,
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
        self.arbiter = arbiter
        """Asked whether this appliance answers a wake word other appliances heard too (None: always)."""
        self.stage = Stage.IDLE
        self.turn: Turn | None = None
        self.history: list[TurnRecord] = []
        self.earcon = settings.audio.earcon
        self.hold_chars = 0
        """Reply text held back before speaking starts (0; the benchmark's baseline sets 60)."""
        self.wake_words = tuple(settings.wake.models)
        """Names stripped from the start of a transcript ("Jarvis, what time…")."""
        self.on_turn_finished: list[Callable[[TurnRecord], None]] = []
        self.on_utterance: list[Callable[[np.ndarray], None]] = []
        """Called on the loop with a request's audio as its transcription starts; must return at once."""
        self.frontend_eof = asyncio.Event()
        self.ping_answered = 0.0
        """Monotonic stamp of the last liveness ping this loop echoed (see app's liveness loop)."""
        self._inbox = inbox
        """Where the front end's messages arrive (it was built posting into the same inbox)."""
        self._text_lock = asyncio.Lock()
        self._turn_ids = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._elections: set[asyncio.Task[None]] = set()
        self._prefilling: threading.Event | None = None
        """Set to cancel the running prefill (a barge-in, or the turn ended before it finished)."""
        self.reply_checker = ReplyChecker(zone_clock(settings.skills.timezone))
        """Checks every LLM reply before it is spoken; its counts are ``status``'s ``reply_check``."""

    # -- the inbox ----------------------------------------------------------------
    def post(self, msg: FrontEndMessage) -> None:
        """Queue a front-end message (on the event loop)."""
        self._inbox.post(msg)

    def post_threadsafe(self, msg: FrontEndMessage) -> None:
        """Queue a front-end message from the audio thread."""
        self._inbox.post_threadsafe(msg)

    async def run(self) -> None:
        """Consume front-end messages forever."""
        self._inbox.bind_running()
        while True:
            await self._dispatch(await self._inbox.get())

    async def _dispatch(self, msg: FrontEndMessage) -> None:
        match msg:
            case WakeHeard():
                await self._on_wake(msg)
            case CaptureMessage():
                if self.turn is not None and self.turn.capture_id == msg.capture_id:
                    self.turn.inbox.put_nowait(msg)
            case InputStatus():
                self.bus.publish(CaptureStatus(available=msg.available, device=msg.device, message=msg.device))
            case InputEnded():
                self.frontend_eof.set()
            case LivenessPing():
                self.ping_answered = msg.mono

    async def idle(self, timeout: float | None = None) -> None:
        """Wait until no turn is running (tests and benchmarks wait on this, not on sleeps)."""
        await asyncio.wait_for(self._idle.wait(), timeout)

    # -- starting turns ---------------------------------------------------------------
    async def _on_wake(self, msg: WakeHeard) -> None:
        det = msg.detection
        barge_in = self.turn is not None and self.stage in (Stage.THINKING, Stage.SPEAKING)
        self.bus.publish(WakeDetected(model=det.model, score=det.score, at_s=det.at_s, during_reply=barge_in))
        await self.interrupt()
        election = None if barge_in or self.arbiter is None else self.arbiter.elect(msg)
        if self.earcon and not barge_in and election is None:  # over a reply, its stopping is the cue
            self.sink.play(earcon(self.tts.sample_rate), self.tts.sample_rate)
        record = self._record(Source.VOICE)
        record.wake_model, record.wake_score = det.model, det.score
        record.wake_at_s, record.wake_mono = det.at_s, msg.mono
        turn = Turn(self._context(), record, msg.capture_id)
        self._start(turn, "turn", lambda t: t.run_voice())
        if election is not None:  # the turn listens meanwhile: winning adds no latency
            task = asyncio.create_task(self._settle(turn, election), name=f"election-{record.turn_id}")
            self._elections.add(task)
            task.add_done_callback(self._elections.discard)

    async def _settle(self, turn: Turn, election: asyncio.Future[bool]) -> None:
        """Once the election is decided: the winner sounds its earcon; a loser drops the turn silently."""
        won = await election
        if self.turn is not turn:
            return
        if won:
            if self.earcon:
                self.sink.play(earcon(self.tts.sample_rate), self.tts.sample_rate)
            return
        _LOGGER.info("Another appliance answers this wake word; listening for the next one")
        turn.record.outcome = Outcome.YIELDED
        await self.interrupt()

    def _start(self, turn: Turn, label: str, body: Callable[[Turn], Coroutine[Any, Any, None]]) -> None:
        self.turn = turn
        self._idle.clear()
        turn.task = asyncio.create_task(self._run_turn(turn, body), name=f"{label}-{turn.record.turn_id}")

    async def _run_turn(self, turn: Turn, body: Callable[[Turn], Coroutine[Any, Any, None]]) -> None:
        try:
            await body(turn)
        finally:
            self.finish_turn(turn)

    def _record(self, source: Source) -> TurnRecord:
        self._turn_ids += 1
        return TurnRecord(self._turn_ids, source)

    def _context(self) -> TurnContext:
        vad = self.settings.vad
        return TurnContext(
            bus=self.bus,
            stt=self.stt,
            sink=self.sink,
            sample_rate=self.tts.sample_rate,
            listen_limit_s=vad.no_speech_timeout_s + vad.max_utterance_s + 10.0,
            set_stage=self.set_stage,
            new_attempt=self.new_attempt,
            clean_transcript=lambda text: strip_wake_words(text, self.wake_words),
            on_utterance=self._utterance,
            report=lambda err, stage: self.report(err, stage=stage),
            apologise=self.apologise,
            remember=self.conversation.add,
            speech_began=self._prefill,
            confirm_end=self.frontend.confirm_end,
            hand_off=self.arbiter if isinstance(self.arbiter, RequestHandoff) else None,
        )

    def _prefill(self) -> None:
        """While the user speaks, the LLM evaluates what every next prompt starts with (system, history)."""
        prefix = getattr(self.conversation, "prefix_messages", None)
        if prefix is None:
            return
        opening = getattr(self.conversation, "user_opening", None)
        self._cancel_prefill()
        self._prefilling = self.llm.start_prefill(prefix(), opening() if opening is not None else "")

    def _cancel_prefill(self) -> None:
        if self._prefilling is not None:
            self._prefilling.set()
            self._prefilling = None

    def new_attempt(self) -> ReplyAttempt:
        return ReplyAttempt(
            llm=self.llm,
            tts=self.tts,
            messages_for=self.conversation.messages,
            intents=self.intents,
            first_chunk_chars=self.settings.tts.first_chunk_chars,
            hold_chars=self.hold_chars,
            recall=getattr(self.conversation, "answer", None),
            reply_max_s=self.settings.llm.reply_max_s,
            checker=self.reply_checker,
        )

    def set_stage(self, stage: Stage, turn_id: int = 0) -> None:
        if stage != self.stage:
            self.stage = stage
            self.bus.publish(StageChanged(stage=stage, turn_id=turn_id))

    def finish_turn(self, turn: Turn) -> None:
        self._cancel_prefill()
        r = turn.record
        r.done_mono = time.monotonic()
        self.history.append(r)
        del self.history[:-HISTORY]
        if r.outcome == Outcome.ANSWERED or r.reply:
            self.bus.publish(Reply(text=r.reply, interrupted=r.outcome != Outcome.ANSWERED, turn_id=r.turn_id))
        self.bus.publish(
            TurnFinished(
                turn_id=r.turn_id,
                outcome=r.outcome.value,
                transcript=r.transcript,
                reply=r.reply,
                timings=_clean(r.timings()),
            )
        )
        for callback in self.on_turn_finished:
            callback(r)
        if self.turn is turn:
            self.turn = None
            self._idle.set()
            self.set_stage(Stage.IDLE, r.turn_id)

    def report(self, err: ApplianceError, *, stage: str) -> None:
        _LOGGER.error("%s failed: %s", stage, err)
        self.bus.publish(ErrorRaised(code=err.code, message=err.message, stage=stage))

    async def apologise(self) -> None:
        """Say that something failed (best effort: the voice itself may be what failed)."""
        try:
            await self._speech("could not apologise").say(self.tts, SORRY)
        except ApplianceError as err:
            _LOGGER.warning("Could not apologise: %s", err)

    def _speech(self, failure: str) -> Speech:
        """Speech in the voice's sample rate on the sink; ``failure`` opens its ``playback-lost`` message."""
        return Speech(self.sink, self.tts.sample_rate, failure=failure)

    def _utterance(self, audio: np.ndarray) -> None:
        for callback in self.on_utterance:
            callback(audio)

    def forget_texts(self) -> None:
        """Drop what was said from the kept turn history (after a "forget"); timings stay."""
        for record in self.history:
            record.transcript = record.reply = ""

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

    def listen(self, source: Source = Source.LISTEN) -> int:
        """Start a voice turn as if the wake word was heard (push-to-talk); returns the turn id.

        A capture the wake word did not start always sounds the earcon, at least at
        LISTEN_EARCON_FLOOR % whatever the volume, so nobody is listened to unawares.
        """
        rate = self.tts.sample_rate
        self.sink.play(earcon(rate), rate, min_volume=LISTEN_EARCON_FLOOR)
        record = self._record(source)
        capture_id = self.frontend.request_capture(after_wake=False)
        self._start(Turn(self._context(), record, capture_id), "turn", lambda t: t.run_voice())
        return record.turn_id

    async def ask(self, text: str, *, speak: bool = True) -> TurnRecord:
        """A text request answered like a spoken one (intents, then the LLM)."""
        return await self._text_turn("ask", lambda t: t.run_text(text, speak))

    async def say(self, text: str, *, chime: bool = False) -> TurnRecord:
        """Speak ``text`` verbatim, after any reply in progress; ``chime`` sounds the earcon first (a broadcast)."""

        async def body(turn: Turn) -> None:
            turn.record.reply = text
            await self._say(turn, text, chime=chime)

        return await self._text_turn("say", body)

    async def play(self, audio: np.ndarray, rate: int) -> TurnRecord:
        """Play ``audio`` (int16 at ``rate`` Hz) as ``say`` speaks: another assistant's announcement."""
        return await self._text_turn("play", lambda turn: self._say(turn, "", clip=(audio, rate)))

    async def _say(
        self, turn: Turn, text: str, *, chime: bool = False, clip: tuple[np.ndarray, int] | None = None
    ) -> None:
        try:
            self.set_stage(Stage.SPEAKING, turn.record.turn_id)
            speech = (
                Speech(self.sink, clip[1], failure="could not play it") if clip else self._speech("could not say it")
            )
            if chime:
                speech.play(earcon(self.tts.sample_rate))
            if clip is not None:
                speech.play(clip[0])
            else:
                await speech.say(self.tts, text)
            turn.record.first_audio_mono = speech.first_audio_mono
            await speech.heard()
            turn.record.outcome = Outcome.ANSWERED
        except asyncio.CancelledError:
            turn.record.outcome = Outcome.INTERRUPTED
            self.sink.stop()
        except ApplianceError as err:
            turn.record.outcome = Outcome.FAILED
            self.report(err, stage="tts")

    async def alert(self, text: str, sound: np.ndarray, *, ring_s: float, every_s: float = 1.5) -> TurnRecord:
        """Ring: ``sound`` then ``text``, again and again, until stopped or ``ring_s`` has passed.

        A ringing timer or alarm interrupts whatever is speaking.  It is a turn, so
        everything that stops a reply stops it too: a wake word (then "stop"), the
        action button, the ``stop`` command.  ``sound`` is at the voice's sample rate.
        """
        await self.interrupt()
        turn = Turn(self._context(), self._record(Source.ALERT))
        turn.record.reply = text
        self._start(turn, "alert", lambda t: self._ring(t, text, sound, ring_s, every_s))
        assert turn.task is not None
        try:
            await asyncio.wait({turn.task})
        except asyncio.CancelledError:  # the caller gave up on it (the skill's own stop): stop ringing too
            turn.task.cancel()
            raise
        return turn.record

    async def _ring(self, turn: Turn, text: str, sound: np.ndarray, ring_s: float, every_s: float) -> None:
        r = turn.record
        deadline = time.monotonic() + ring_s
        self.set_stage(Stage.SPEAKING, r.turn_id)
        ringing = self._speech("could not ring")
        ringing.play(sound)  # the first sample goes out before the words are synthesized
        r.first_audio_mono = ringing.first_audio_mono
        try:
            words = await asyncio.to_thread(self.tts.synthesize_all, text)
            while True:
                ringing.play(words)
                await ringing.played(ring_s)
                left = deadline - time.monotonic()
                if left <= every_s:
                    break
                await asyncio.sleep(every_s)
                ringing.play(sound)
            r.outcome = Outcome.ANSWERED  # it rang out unanswered
        except asyncio.CancelledError:
            r.outcome = Outcome.INTERRUPTED
            self.sink.stop()
        except ApplianceError as err:
            r.outcome = Outcome.FAILED
            self.report(err, stage="alert")

    async def _text_turn(self, label: str, body: Callable[[Turn], Coroutine[Any, Any, None]]) -> TurnRecord:
        async with self._text_lock:
            await self._wait_idle()
            turn = Turn(self._context(), self._record(Source.TEXT))
            self._start(turn, label, body)
            assert turn.task is not None
            await asyncio.wait({turn.task})
            return turn.record

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
