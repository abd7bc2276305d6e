"""Voice activity: speech probability per frame, the endpointing state machine, and a cheap gate.

:class:`Segmenter` is pure (seconds and booleans in, decisions out), so every
threshold is testable with plain numbers.  Thresholds, all in seconds:

- ``speech_start_s``: voiced audio needed before the request counts as started
  (clicks and bumps shorter than this are ignored);
- ``end_silence_s``: trailing silence that closes the request (the endpoint);
- ``speculate_after_s``: trailing silence after which transcription may start
  early, before the endpoint (undone if speech resumes);
- ``no_speech_timeout_s``: give up when no speech started within this time;
- ``max_utterance_s``: hard cap on the request's length.

With a turn model (``semantic``), a pause's endpoint depends on its verdict instead:
at ``turn_check_s`` of silence the segmenter asks (:meth:`Segmenter.due_turn_check`);
a probability of at least ``turn_threshold`` (the request sounds finished) closes it
at ``end_silence_min_s``, a lower one waits up to ``end_silence_max_s`` (a speaker
pausing mid-sentence is not cut off), no answer (the model failed) falls back to
``end_silence_s``.  Speech resuming starts a new pause with a new question.

With ``confirm_semantic`` (the transcript can check it), a close on the model's
verdict is provisional: :data:`SegmentEvent.LIKELY_ENDED` instead of ``ENDED``, and the
segmenter keeps listening.  :meth:`Segmenter.confirm` (the transcript reads as a whole
request) finishes it; speech resuming is ``RESUMED`` (the speaker was only thinking);
otherwise the pause closes at ``end_silence_max_s`` as an unconfident one would.  A verdict
between ``unsure_threshold`` and ``turn_threshold`` (the model cannot tell) closes provisionally
too, at ``end_silence_s``: the transcript decides it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Protocol

import numpy as np

from appliance.audio import FRAME_SAMPLES, SAMPLE_RATE
from appliance.core.errors import VadError
from appliance.settings import VadSettings

_LOGGER = logging.getLogger(__name__)

EPS = 1e-6
"""Slack for comparing sums of frame durations with thresholds (0.08 * 10 != 0.8)."""


class SegmentEvent(str, Enum):
    """What :meth:`Segmenter.process` decided for one chunk."""

    STARTED = "started"
    SPECULATE = "speculate"
    RESUMED = "resumed"
    LIKELY_ENDED = "likely_ended"
    """The turn model judged the request finished; it ends when :meth:`Segmenter.confirm` is called."""
    ENDED = "ended"
    TIMEOUT = "timeout"
    MAX_LENGTH = "max_length"


@dataclass
class Segmenter:
    """Endpointing for one request, fed chunk by chunk after the wake word."""

    speech_start_s: float = 0.15
    end_silence_s: float = 0.6
    no_speech_timeout_s: float = 5.0
    max_utterance_s: float = 15.0
    speculate_after_s: float = 0.2
    semantic: bool = False
    """Ask a turn model at each pause (below); False = every pause ends at ``end_silence_s``."""
    turn_check_s: float = 0.15
    turn_threshold: float = 0.8
    end_silence_min_s: float = 0.2
    end_silence_max_s: float = 1.5
    confirm_semantic: bool = False
    """A close on the turn model's verdict is provisional until :meth:`confirm` (see the module doc)."""
    unsure_threshold: float = 1.0
    """With ``confirm_semantic``: a probability of at least this (under ``turn_threshold``) closes the
    pause provisionally at ``end_silence_s`` instead of waiting ``end_silence_max_s``; 1 = never."""
    turn_recheck_s: float = 0.0
    """With ``confirm_semantic``: ask again about a pause whose verdict left it waiting ``end_silence_max_s``,
    at this much silence (its end is provisional, as any early one); 0 = never."""

    def __post_init__(self) -> None:
        self.elapsed_s = 0.0
        self.started = False
        self.finished = False
        self.speech_end_s = 0.0
        """Segment-relative seconds where the last voiced chunk ended."""
        self.speech_start_at_s = 0.0
        self.pause = 0
        """Which pause the trailing silence is (counts up each time speech resumes)."""
        self.turn_probability: float | None = None
        """The turn model's answer for the current pause (None: not asked, not answered, or it failed)."""
        self.semantic_end = False
        """The endpoint closed early on the turn model's verdict (complete, or unsure and confirmed)."""
        self.provisional = False
        """LIKELY_ENDED was returned for this pause and it awaits :meth:`confirm`."""
        self._voiced_run = 0.0
        self._silence = 0.0
        self._speculating = False
        self._asked = False
        self._answered = False
        self._rechecked = False
        self._close_after_s = self._pause_default()

    @classmethod
    def from_settings(cls, s: VadSettings, *, semantic: bool = False, confirm: bool = False) -> Segmenter:
        """A segmenter with ``s``'s thresholds; ``semantic`` when a turn model is loaded and on,
        ``confirm`` when its early closes wait for the transcript's check."""
        check = min(s.speculate_after_s or s.end_silence_min_s, s.end_silence_min_s)
        return cls(
            speech_start_s=s.speech_start_s,
            end_silence_s=s.end_silence_s,
            no_speech_timeout_s=s.no_speech_timeout_s,
            max_utterance_s=s.max_utterance_s,
            speculate_after_s=s.speculate_after_s,
            semantic=semantic,
            turn_check_s=check,
            turn_threshold=s.smart_turn_threshold,
            end_silence_min_s=s.end_silence_min_s,
            end_silence_max_s=s.end_silence_max_s,
            confirm_semantic=semantic and confirm,
            unsure_threshold=s.smart_turn_unsure,
            turn_recheck_s=s.smart_turn_recheck_s,
        )

    @property
    def silence_s(self) -> float:
        """Seconds of trailing silence since the last voiced chunk."""
        return self._silence

    def process(self, chunk_s: float, is_speech: bool) -> SegmentEvent | None:
        """Advance by one chunk; return the decision it triggers, if any."""
        if self.finished:
            return None
        self.elapsed_s += chunk_s
        if not self.started:
            return self._before_start(chunk_s, is_speech)
        if self.elapsed_s - self.speech_start_at_s + EPS >= self.max_utterance_s:
            self.finished = True
            if is_speech:
                self.speech_end_s = self.elapsed_s
            return SegmentEvent.MAX_LENGTH
        if is_speech:
            self.speech_end_s = self.elapsed_s
            was_provisional = self.provisional
            if self._silence > 0:
                self._new_pause()
            if self._speculating or was_provisional:
                self._speculating = False
                return SegmentEvent.RESUMED
            return None
        self._silence += chunk_s
        if self._silence + EPS >= self._close_after_s:
            return self._end()
        if self.speculate_after_s and not self._speculating and self._silence + EPS >= self.speculate_after_s:
            self._speculating = True
            return SegmentEvent.SPECULATE
        return None

    # -- the turn model's part ---------------------------------------------------
    def due_turn_check(self) -> int | None:
        """The pause to ask the turn model about now, else None: once at ``turn_check_s``, and once
        more at ``turn_recheck_s`` when the first verdict left the pause waiting the longest."""
        if not self.semantic or self.finished or not self.started or self._silence <= 0:
            return None
        if not self._asked:
            if self._silence + EPS < self.turn_check_s:
                return None
            self._asked = True
            return self.pause
        if self._recheck_due():
            self._rechecked = True
            self._answered = False
            return self.pause
        return None

    def _recheck_due(self) -> bool:
        return (
            bool(self.turn_recheck_s)
            and self.confirm_semantic  # alone, a second "finished" cut a 0.65 s mid-sentence pause
            and not self._rechecked
            and self._answered
            and not self.provisional
            and self._close_after_s + EPS >= self.end_silence_max_s
            and self._silence + EPS >= self.turn_recheck_s
        )

    @property
    def awaiting_verdict(self) -> bool:
        """The pause has reached ``end_silence_min_s`` and its endpoint now hangs on the model's answer
        (the first one's or the second opinion's)."""
        return (
            self._asked and not self._answered and not self.finished and self._silence + EPS >= self.end_silence_min_s
        )

    def turn_verdict(self, pause: int, probability: float | None) -> SegmentEvent | None:
        """The turn model's answer about ``pause`` (None = it failed); ENDED when that closes the request now."""
        if self.finished or pause != self.pause or not self._asked or self._answered:
            return None  # a stale answer: speech resumed since the question
        self._answered = True
        self.turn_probability = probability
        if probability is None:
            self._close_after_s = self.end_silence_s
        elif probability >= self.turn_threshold:
            self._close_after_s = self.end_silence_min_s
        elif self.confirm_semantic and probability >= self.unsure_threshold:
            self._close_after_s = self.end_silence_s  # then only if the transcript confirms it
        else:
            self._close_after_s = self.end_silence_max_s
        if self._silence + EPS >= self._close_after_s:
            return self._end()
        return None

    def confirm(self) -> bool:
        """Finish a provisional end (the transcript reads as a whole request); False if there is none."""
        if not self.provisional or self.finished:
            return False
        self.finished = True
        return True

    def _end(self) -> SegmentEvent:
        p = self.turn_probability
        semantic = self._answered and p is not None and p >= self._early_threshold
        if semantic and self.confirm_semantic and not self.provisional:
            self.provisional = self.semantic_end = True
            self._close_after_s = max(self.end_silence_max_s, self._silence)
            return SegmentEvent.LIKELY_ENDED
        self.semantic_end = semantic and not self.provisional  # a provisional end left unconfirmed ran to the max
        self.finished = True
        return SegmentEvent.ENDED

    @property
    def _early_threshold(self) -> float:
        """The probability a verdict needs to end the pause before ``end_silence_max_s``: with a transcript to
        check it, an unsure one will do (it ends only provisionally)."""
        return min(self.turn_threshold, self.unsure_threshold) if self.confirm_semantic else self.turn_threshold

    def _pause_default(self) -> float:
        """Silence that ends a pause before (or without) a verdict."""
        return self.end_silence_max_s if self.semantic else self.end_silence_s

    def _new_pause(self) -> None:
        self._silence = 0.0
        self.pause += 1
        self._asked = self._answered = self._rechecked = False
        self.provisional = self.semantic_end = False
        self.turn_probability = None
        self._close_after_s = self._pause_default()

    def _before_start(self, chunk_s: float, is_speech: bool) -> SegmentEvent | None:
        if is_speech:
            self._voiced_run += chunk_s
            if self._voiced_run + EPS >= self.speech_start_s:
                self.started = True
                self.speech_start_at_s = self.elapsed_s - self._voiced_run
                self.speech_end_s = self.elapsed_s
                return SegmentEvent.STARTED
        else:
            self._voiced_run = 0.0
        if self.elapsed_s + EPS >= self.no_speech_timeout_s:
            self.finished = True
            return SegmentEvent.TIMEOUT
        return None


class SpeechDetector(Protocol):
    """Speech probability (0..1) for one 80 ms frame of 16 kHz int16."""

    def probability(self, frame: np.ndarray) -> float: ...

    def reset(self) -> None: ...


class SileroDetector:
    """Silero VAD (the ONNX model from the silero-vad package) run by onnxruntime.

    The model keeps a recurrent state and wants 512-sample windows with the
    previous window's last 64 samples in front; an 80 ms frame is 2.5 windows,
    so the remainder waits for the next frame.
    """

    WINDOW = 512
    CONTEXT = 64

    def __init__(self, model_path: Path) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        try:
            self._session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        except Exception as err:
            raise VadError("vad-load-failed", f"cannot load {model_path}: {err}") from err
        self._rate = np.array(SAMPLE_RATE, dtype=np.int64)
        self._input = np.zeros((1, self.CONTEXT + self.WINDOW), dtype=np.float32)
        self._pending = np.zeros(0, dtype=np.float32)
        self._state = np.zeros((2, 1, 128), dtype=np.float32)

    def probability(self, frame: np.ndarray) -> float:
        data = np.concatenate((self._pending, frame.astype(np.float32) * (1.0 / 32768.0)))
        best = 0.0
        whole = len(data) // self.WINDOW * self.WINDOW
        for start in range(0, whole, self.WINDOW):
            self._input[0, : self.CONTEXT] = self._input[0, -self.CONTEXT :]
            self._input[0, self.CONTEXT :] = data[start : start + self.WINDOW]
            out, self._state = self._session.run(None, {"input": self._input, "state": self._state, "sr": self._rate})
            best = max(best, float(out[0, 0]))
        self._pending = data[whole:]
        return best

    def reset(self) -> None:
        self._state = np.zeros((2, 1, 128), dtype=np.float32)
        self._input[:] = 0.0
        self._pending = np.zeros(0, dtype=np.float32)


class WebRtcDetector:
    """webrtcvad on 20 ms sub-frames: the fraction of them judged voiced."""

    SUB = SAMPLE_RATE // 50

    def __init__(self, aggressiveness: int = 2) -> None:
        import webrtcvad

        self._vad = webrtcvad.Vad(aggressiveness)

    def probability(self, frame: np.ndarray) -> float:
        raw = frame.astype("<i2", copy=False).tobytes()
        step = self.SUB * 2
        votes = [self._vad.is_speech(raw[i : i + step], SAMPLE_RATE) for i in range(0, len(raw) - step + 1, step)]
        return sum(votes) / len(votes) if votes else 0.0

    def reset(self) -> None:
        pass


def load_detector(settings: VadSettings, resolve: Callable[[str], Path]) -> SpeechDetector:
    """The configured speech detector (``resolve`` maps a model name to its file)."""
    if settings.engine == "webrtc":
        return WebRtcDetector()
    return SileroDetector(resolve("silero-vad"))


class VoiceGate:
    """Cheap 'is anyone making sound?' test that decides when the wake network runs.

    Frames below ``floor_dbfs`` are silence without further work; louder frames
    go to webrtcvad (least aggressive mode, so quiet speech still opens it).
    """

    def __init__(self, floor_dbfs: float = -60.0) -> None:
        import webrtcvad

        self._vad = webrtcvad.Vad(0)
        self._floor_ms = (32768.0**2) * 10 ** (floor_dbfs / 10)
        self._sub_bytes = (SAMPLE_RATE // 50) * 2

    def is_voice(self, frame: np.ndarray) -> bool:
        mean_square = float(np.dot(frame.astype(np.float32), frame.astype(np.float32))) / max(len(frame), 1)
        if mean_square < self._floor_ms:
            return False
        raw = frame.tobytes()
        step = self._sub_bytes
        return any(
            self._vad.is_speech(raw[i : i + step], SAMPLE_RATE) for i in range(0, FRAME_SAMPLES * 2 - step + 1, step)
        )
