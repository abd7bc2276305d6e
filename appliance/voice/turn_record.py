"""What one turn came to: its outcome and its single timing record."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from appliance.voice.reply import Marks

if sys.version_info >= (3, 11):
    from enum import StrEnum
else:  # Python 3.10 (a Jetson's): the same behaviour, by hand

    class StrEnum(str, Enum):
        def __str__(self) -> str:
            return str(self.value)


class Outcome(StrEnum):
    """How a turn ended."""

    PENDING = "pending"
    ANSWERED = "answered"
    INTERRUPTED = "interrupted"
    """Barge-in, ``stop``, or shutdown while it ran."""
    CANCELLED = "cancelled"
    YIELDED = "yielded"
    """Another appliance won the election for this wake word and answered it."""
    FAILED = "failed"
    NO_SPEECH = "no-speech"


class Source(StrEnum):
    """What started a turn."""

    VOICE = "voice"
    """The wake word."""
    LISTEN = "listen"
    """A ``listen`` command or push-to-talk."""
    TEXT = "text"
    """``ask`` or ``say``."""
    ALERT = "alert"
    """A timer, alarm or reminder ringing."""


def _diff(a: float | None, b: float | None) -> float | None:
    return round(a - b, 4) if a is not None and b is not None else None


@dataclass
class TurnRecord:
    """One turn: its texts, its outcome and every timestamp (monotonic seconds; None = not reached)."""

    turn_id: int
    source: Source
    wake_model: str = ""
    wake_score: float = 0.0
    wake_at_s: float | None = None
    """Audio-timeline seconds of the wake word."""
    wake_mono: float | None = None
    speech_end_s: float | None = None
    """Audio-timeline seconds where the request's speech ended."""
    speech_end_mono: float | None = None
    endpoint_mono: float | None = None
    endpoint_at_s: float | None = None
    transcript: str = ""
    reply: str = ""
    outcome: Outcome = Outcome.PENDING
    speculated: bool = False
    endpoint_semantic: bool = False
    """The endpoint closed early on the turn model's verdict: finished (at ``vad.end_silence_min_s``), or
    unsure (``vad.smart_turn_unsure``, at ``vad.end_silence_s``) with the transcript confirming it."""
    turn_probability: float | None = None
    """The turn model's completion probability (0..1) at the endpoint's pause; None = not asked."""
    endpoint_reopened: int = 0
    """Early (provisional) endpoints the speculative transcript took back: it stopped on "of", "the", ..."""
    endpoint_resumed: int = 0
    """Provisional endpoints the speaker talked past after the transcript confirmed them, before the
    reply was heard: the reply was dropped and the whole request answered."""
    stt_s: float | None = None
    """Seconds the STT engine took on the request that was answered."""
    audio_s: float = 0.0
    """Seconds of request audio that were transcribed."""
    first_audio_mono: float | None = None
    done_mono: float | None = None
    playback_end_mono: float | None = None
    marks: Marks = field(default_factory=Marks)
    """The reply's milestones (LLM, TTS), written by the reply attempt that was committed."""
    intent: str | None = None
    """The local intent that answered, or None when the LLM did."""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def llm_first_token_s(self) -> float | None:
        return _diff(self.marks.llm_first_token, self.marks.llm_started)

    @property
    def tts_first_audio_s(self) -> float | None:
        return _diff(self.marks.first_audio_ready, self.marks.first_chunk_text)

    def timings(self) -> dict[str, float | int | None]:
        """Per-stage seconds (internal view; converse adds ground-truth ones)."""
        return {
            "endpoint_delay_s": _diff(self.endpoint_mono, self.speech_end_mono),
            "stt_s": self.stt_s,
            "llm_first_token_s": self.llm_first_token_s,
            "tts_first_audio_s": self.tts_first_audio_s,
            "end_of_speech_to_first_audio_s": _diff(self.first_audio_mono, self.speech_end_mono),
            "llm_tokens_evaluated": self.marks.llm_tokens_evaluated,
        }
