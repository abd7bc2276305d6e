"""The audio front end: one worker thread from the microphone to wake words and endpoints.

Every 80 ms frame goes through here exactly once.  Waiting for the wake word,
frames go to the wake-word detector; once it fires (or a ``listen`` command
arrives) the same thread switches to capturing the request: frames go to the
speech detector and the :class:`Segmenter`, and the request's audio
(including a short pre-roll before the detected speech start) is collected
in a preallocated buffer.  Only decisions cross over to the event loop, as
:mod:`appliance.voice.messages` messages through ``emit``; nothing per frame does.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from enum import Enum

import numpy as np

from appliance.audio import FRAME_SAMPLES, FRAME_SECONDS, SAMPLE_RATE
from appliance.audio.buffer import SampleRing
from appliance.audio.echo import EchoCanceller
from appliance.audio.levels import wake_levels
from appliance.audio.source import AudioSource
from appliance.core.errors import AudioError
from appliance.engines.smart_turn import TurnJudge, TurnModel
from appliance.engines.vad import Segmenter, SegmentEvent, SpeechDetector
from appliance.engines.wake import WakeWordDetector
from appliance.settings import VadSettings
from appliance.voice.messages import (
    CaptureAudio,
    CaptureEnded,
    CaptureMessage,
    CaptureTimedOut,
    FrontEndMessage,
    InputEnded,
    InputStatus,
    SpeechBegan,
    SpeechPaused,
    SpeechResumed,
    WakeHeard,
)

_LOGGER = logging.getLogger(__name__)

WAKE_TAIL_S = 0.5
"""After a wake word, speech is ignored until the first pause or this long, so
the end of the wake phrase itself never opens (or closes) the request.  Speech
that runs on past it without a pause is the request, said straight after the
wake word (as people do when they talk over a reply): it is kept from the wake
frame on, not lost to the tail."""

TURN_WAIT_S = 0.25
"""Longest the audio thread waits for the turn model's answer, and only once a pause's endpoint
hangs on it: the model is asked a frame or more earlier, so in real time the answer is usually
there already (reading a recording faster than real time, this wait keeps decisions the same)."""


def _every_source(source: AudioSource) -> bool:
    return True


class Mode(str, Enum):
    WAKE = "wake"
    CAPTURE = "capture"
    MUTED = "muted"


class FrontEnd:
    """Owns the source, the detectors and the capture state; runs :meth:`run` on a thread."""

    def __init__(
        self,
        source_factory: Callable[[], AudioSource],
        wake: WakeWordDetector,
        speech: SpeechDetector,
        vad: VadSettings,
        emit: Callable[[FrontEndMessage], None],
        *,
        preroll_s: float = 0.3,
        retry_s: float = 5.0,
        turn: TurnModel | None = None,
        stream_capture: bool = False,
        confirm_ends: bool = False,
        echo: EchoCanceller | None = None,
        echo_for: Callable[[AudioSource], bool] = _every_source,
    ) -> None:
        self._source_factory = source_factory
        self.wake = wake
        wake.restart()  # frame times start again at zero
        self.speech = speech
        self.vad = vad
        self.emit = emit
        """Where decisions go, from the audio thread (the pipeline's :class:`~appliance.voice.inbox.Inbox`)."""
        self.preroll_s = preroll_s
        self.retry_s = retry_s
        """Seconds between attempts to open a missing capture device."""
        self.judge = TurnJudge(turn) if turn is not None else None
        """Asks the semantic end-of-turn model at each pause, off this thread (None: not loaded)."""
        self.source: AudioSource | None = None
        self.mode = Mode.WAKE
        self.frames = 0
        self.capture_available = False
        self.capture_message = "not started"
        self._wake_enabled = True
        self.stream_capture = stream_capture
        """Hand every captured frame to the event loop too (streaming STT engines)."""
        self.confirm_ends = confirm_ends
        """The turn model's early ends are provisional until :meth:`confirm_end` (the turn checks
        the speculative transcript's last words); set when the STT transcribes speculatively."""
        self._confirm: int | None = None
        self.after_eof: Callable[[], AudioSource] | None = None
        """Source to continue with when the current one ends."""
        self.echo = echo
        """Takes the appliance's own voice out of every frame before anything listens to it."""
        self.echo_for = echo_for
        """Whether a source, as it opens, needs its echo cancelled (``audio.aec = "auto"``)."""
        self._stop = threading.Event()
        self._muted = threading.Event()
        self._pending_capture: tuple[int, bool] | None = None
        self._capture_id = 0
        self._history = SampleRing(3.0)
        max_samples = int((vad.max_utterance_s + 3.0) * SAMPLE_RATE)
        self._utterance = np.zeros(max_samples, dtype=np.int16)
        self._utt_len = 0
        self._segmenter: Segmenter | None = None
        self._tail_left = 0.0
        self._ran_on = False  # speech ran on through the whole wake tail without a pause
        self._capture_began = 0
        self._after_wake = False
        self.input_ended = False
        """The input was a recording and it has ended (not a failure of the audio thread)."""
        self._frame = np.zeros(FRAME_SAMPLES, dtype=np.int16)
        self.last_frame_mono = time.monotonic()
        """When the last frame arrived (or the source opened): the liveness check's clock."""
        self.heartbeat_mono = time.monotonic()
        """Stamped every loop iteration: a thread stuck in a driver stops stamping (liveness)."""

    # -- control (any thread) ---------------------------------------------
    def play_first(self, source_factory: Callable[[], AudioSource]) -> None:
        """Read ``source_factory``'s recording first, then carry on with the configured source (the demo)."""
        self.after_eof = self._source_factory
        self._source_factory = source_factory

    def request_capture(self, *, after_wake: bool = False) -> int:
        """Start capturing a request at the next frame (``listen``); returns its id."""
        self._capture_id += 1
        self._pending_capture = (self._capture_id, after_wake)
        return self._capture_id

    def cancel_capture(self, capture_id: int | None = None) -> None:
        """Stop capturing (only capture ``capture_id`` when given: a newer one carries on)."""
        if capture_id is not None and capture_id != self._capture_id:
            return
        self._pending_capture = None
        if self.mode == Mode.CAPTURE:
            self.mode = Mode.WAKE

    def confirm_end(self, capture_id: int) -> None:
        """The turn took capture ``capture_id``'s request (its provisional end held): stop capturing it."""
        self._confirm = capture_id

    def allow_wake(self, allowed: bool) -> None:
        """Listen for wake words or ignore them (presence gating); a capture under way carries on."""
        self._wake_enabled = allowed

    @property
    def wake_enabled(self) -> bool:
        return self._wake_enabled

    def set_streaming(self, streaming: bool) -> None:
        """Hand captured frames to the event loop as they come (a streaming STT engine), or not."""
        self.stream_capture = streaming

    def set_muted(self, muted: bool) -> None:
        if muted:
            self._muted.set()
        else:
            self._muted.clear()

    @property
    def muted(self) -> bool:
        return self._muted.is_set()

    def stop(self) -> None:
        self._stop.set()

    @property
    def at_s(self) -> float:
        return self.frames * FRAME_SECONDS

    # -- the thread ---------------------------------------------------------
    def run(self) -> None:
        """Read frames until stopped; at the source's end emit ``eof`` and go on with
        ``after_eof`` (the demo recording hands over to the microphone) or return."""
        try:
            self._loop()
        finally:
            self._close_source()
            if self.judge is not None:
                self.judge.close()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.heartbeat_mono = time.monotonic()
            try:
                self._step()
            except EOFError:
                self.emit(InputEnded(self.at_s, time.monotonic()))
                self._close_source()
                if self.after_eof is None:
                    self.input_ended = True
                    return
                self._source_factory, self.after_eof = self.after_eof, None

    def _step(self) -> None:
        if self._muted.is_set():
            self._close_source()
            self.mode = Mode.MUTED
            self._stop.wait(0.1)
            return
        if self.mode == Mode.MUTED:
            self.mode = Mode.WAKE
        if self.source is None and not self._open_source():
            self._stop.wait(self.retry_s)
            return
        self._read_one()

    def _open_source(self) -> bool:
        try:
            source = self._source_factory()
            source.open()
        except AudioError as err:
            if self.capture_available or self.capture_message != err.message:
                _LOGGER.warning("No capture: %s; retrying every %.0f s", err.message, self.retry_s)
                self.emit(InputStatus(self.at_s, time.monotonic(), available=False, device=err.message))
            self.capture_available = False
            self.capture_message = err.message
            return False
        self.source = source
        if self.echo is not None:
            self.echo.cancel = self.echo_for(source)
        self.last_frame_mono = time.monotonic()  # a source just opened gets the full grace for its first frame
        self.capture_available = True
        self.capture_message = source.name
        self.emit(InputStatus(self.at_s, time.monotonic(), available=True, device=source.name))
        return True

    def _close_source(self) -> None:
        if self.source is not None:
            self.source.close()
            self.source = None

    def _read_one(self) -> None:
        assert self.source is not None
        try:
            got = self.source.read_into(self._frame, timeout=1.0)
        except AudioError as err:
            _LOGGER.warning("Capture failed: %s", err.message)
            self._close_source()
            self.capture_available = False
            self.emit(InputStatus(self.at_s, time.monotonic(), available=False, device=err.message))
            return
        if not got:
            return
        self.frames += 1
        self.last_frame_mono = time.monotonic()
        self.process(self._frame)

    def process(self, frame: np.ndarray, heard_mono: float | None = None) -> None:
        """Handle one frame (public for tests that drive the front end directly).

        ``heard_mono`` is when its first sample reached the microphone (default: one frame before it
        was read); with echo cancellation on, ``frame`` is cleaned in place first.
        """
        if self.echo is not None:
            self.echo.process(frame, self.last_frame_mono - FRAME_SECONDS if heard_mono is None else heard_mono)
        self._history.extend(frame)
        if self._confirm is not None:
            self._finish_confirmed(self._confirm)
        pending = self._pending_capture
        if pending is not None:
            self._pending_capture = None
            self._begin_capture(*pending)
        if self.mode == Mode.CAPTURE:
            self.wake.observe(frame)
            self._capture_frame(frame)
        elif self._wake_enabled:
            self._wake_frame(frame)
        else:
            self.wake.observe(frame)

    def _wake_frame(self, frame: np.ndarray) -> None:
        detection = self.wake.process(frame, self.at_s)
        if detection is None:
            return
        _LOGGER.info("Wake word %s (%.2f) at %.2f s", detection.model, detection.score, detection.at_s)
        capture_id = self.request_capture(after_wake=True)
        self._pending_capture = None
        level, snr = wake_levels(self._history.latest())  # 3 s once per wake: cheap enough on this thread
        self.emit(WakeHeard(self.at_s, self.last_frame_mono, capture_id, detection, level, snr))
        self._begin_capture(capture_id, True)

    def _finish_confirmed(self, capture_id: int) -> None:
        self._confirm = None
        seg = self._segmenter
        if capture_id != self._capture_id or self.mode != Mode.CAPTURE or seg is None:
            return
        if not seg.confirm():  # speech resumed a moment ago: the turn answers the request it had anyway
            _LOGGER.debug("Capture %d confirmed after speech resumed; stopping it", capture_id)
        self._back_to_wake()

    def _back_to_wake(self) -> None:
        """The capture is over: listen for the wake word again."""
        self.mode = Mode.WAKE
        self.wake.reset()
        if self.judge is not None:
            self.judge.forget()

    # -- capturing a request --------------------------------------------------
    def _begin_capture(self, capture_id: int, after_wake: bool) -> None:
        self._capture_id = capture_id
        self.mode = Mode.CAPTURE
        semantic = self.judge is not None and self.vad.turn_model != "off"
        self._segmenter = Segmenter.from_settings(self.vad, semantic=semantic, confirm=self.confirm_ends)
        if self.judge is not None:
            self.judge.forget()
        self._utt_len = 0
        self._capture_began = self.frames
        self._after_wake = after_wake
        self._tail_left = WAKE_TAIL_S if after_wake else 0.0
        self._ran_on = False
        self.speech.reset()

    def _capture_frame(self, frame: np.ndarray) -> None:
        assert self._segmenter is not None
        is_speech = self.speech.probability(frame) >= self.vad.threshold
        if self._tail_left > 0:
            self._tail_left = 0.0 if not is_speech else self._tail_left - FRAME_SECONDS
            self._ran_on = is_speech and self._tail_left <= 0
            return
        seg = self._segmenter
        decision = seg.process(FRAME_SECONDS, is_speech)
        if seg.started:
            self._append(frame)
        if decision == SegmentEvent.STARTED:
            self._seed_with_preroll(seg)
        if self.stream_capture and seg.started and not seg.finished:
            chunk = self._utterance[: self._utt_len] if decision == SegmentEvent.STARTED else frame
            self.emit(CaptureAudio(self.at_s, self.last_frame_mono, self._capture_id, chunk.copy()))
        judge = self.judge
        pause = seg.due_turn_check() if judge is not None else None
        if judge is not None and pause is not None:  # asked before SpeechPaused goes out and starts the STT
            judge.ask((self._capture_id, pause), self._utterance[: self._utt_len])
        if decision is not None:
            self._emit_decision(decision, seg)
        if judge is not None and judge.pending and not seg.finished:
            verdict = self._collect_verdict(judge, seg)
            if verdict is not None:
                self._emit_decision(verdict, seg)

    def _collect_verdict(self, judge: TurnJudge, seg: Segmenter) -> SegmentEvent | None:
        """Apply the turn model's answer once it is there (waiting only when the endpoint hangs on it)."""
        got = judge.answer(TURN_WAIT_S if seg.awaiting_verdict else 0.0)
        if got is None:
            return None
        (capture_id, pause), probability = got
        if capture_id != self._capture_id:
            return None
        decision = seg.turn_verdict(pause, probability)
        _LOGGER.debug(
            "Turn model: %s after %.2f s of silence (%.0f ms)%s",
            "failed" if probability is None else f"{probability:.2f}",
            seg.silence_s,
            judge.last_s * 1000,
            ", endpoint" if decision is not None else "",
        )
        return decision

    def _emit_decision(self, decision: SegmentEvent, seg: Segmenter) -> None:
        if decision == SegmentEvent.LIKELY_ENDED:
            _LOGGER.debug(
                "Likely endpoint after %.2f s of silence (turn probability %s); listening on until the turn confirms",
                seg.silence_s,
                seg.turn_probability,
            )
        if seg.finished:
            self._back_to_wake()
            if decision == SegmentEvent.ENDED:
                _LOGGER.debug(
                    "Endpoint after %.2f s of silence (semantic: %s, turn probability %s)",
                    seg.silence_s,
                    seg.semantic_end,
                    seg.turn_probability,
                )
        self.emit(self._decision(decision, seg))

    def _decision(self, decision: SegmentEvent, seg: Segmenter) -> CaptureMessage:
        """The message for one segmenter decision (the audio is copied: the buffer is reused)."""
        at_s, mono, cid = self.at_s, self.last_frame_mono, self._capture_id
        speech_end_s = at_s - (seg.elapsed_s - seg.speech_end_s)
        if decision == SegmentEvent.STARTED:
            return SpeechBegan(at_s, mono, cid)
        if decision == SegmentEvent.RESUMED:
            return SpeechResumed(at_s, mono, cid)
        if decision == SegmentEvent.TIMEOUT:
            return CaptureTimedOut(at_s, mono, cid)
        audio = self._utterance[: self._utt_len].copy()
        if decision == SegmentEvent.SPECULATE:
            return SpeechPaused(at_s, mono, cid, audio, speech_end_s)
        provisional = decision == SegmentEvent.LIKELY_ENDED
        return CaptureEnded(
            at_s,
            mono,
            cid,
            audio,
            speech_end_s,
            max_length=decision == SegmentEvent.MAX_LENGTH,
            semantic=seg.semantic_end,
            turn_probability=seg.turn_probability,
            provisional=provisional,
        )

    def _seed_with_preroll(self, seg: Segmenter) -> None:
        """Start the request's audio a little before the detector noticed speech."""
        voiced = seg.elapsed_s - seg.speech_start_at_s
        take = int((voiced + self.preroll_s) * SAMPLE_RATE)
        if self._after_wake:  # never reach back past the frame the wake word fired on
            since_wake = (self.frames - self._capture_began + 1) * FRAME_SAMPLES
            take = since_wake if self._ran_on else min(take, since_wake)
        seed = self._history.latest(take)
        self._utterance[: len(seed)] = seed
        self._utt_len = len(seed)

    def _append(self, frame: np.ndarray) -> None:
        end = self._utt_len + len(frame)
        if end <= len(self._utterance):
            self._utterance[self._utt_len : end] = frame
            self._utt_len = end
