"""The event vocabulary: small frozen dataclasses that every stage publishes.

Stages never call MQTT, GPIO or SQLite; they publish one of these on the bus
and whoever cares subscribes.  Times are Unix seconds (``ts``) unless a field
says otherwise; ``at_s`` fields are seconds on the audio timeline of the
current input (0 = first captured sample).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any


class Stage(str, Enum):
    """Where the pipeline is; published as the ``stage`` state."""

    IDLE = "idle"
    LISTENING = "listening"
    THINKING = "thinking"
    SPEAKING = "speaking"

    def __str__(self) -> str:
        return self.value


def _now() -> float:
    return time.time()


@dataclass(frozen=True)
class Event:
    """Base class; ``name`` is the wire name (MQTT topic leaf, log tag)."""

    ts: float = field(default_factory=_now, kw_only=True)
    """Unix time the event was created, seconds."""

    name = "event"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form with the event name."""
        data = asdict(self)
        for key, value in data.items():
            if isinstance(value, Enum):
                data[key] = value.value
        return {"event": self.name, **data}


@dataclass(frozen=True)
class StageChanged(Event):
    stage: Stage
    turn_id: int = 0
    name = "stage"


@dataclass(frozen=True)
class WakeDetected(Event):
    model: str
    score: float
    """Model output in 0..1 at the moment of detection."""
    at_s: float
    """Audio-timeline seconds of the frame that triggered."""
    during_reply: bool = False
    """True when this wake word interrupted a reply (barge-in)."""
    name = "wake"


@dataclass(frozen=True)
class SpeechStarted(Event):
    at_s: float
    name = "speech_started"


@dataclass(frozen=True)
class SpeechEnded(Event):
    at_s: float
    """Audio-timeline seconds of the end of the last voiced frame."""
    endpoint_at_s: float
    """Audio-timeline seconds at which the endpoint closed."""
    name = "speech_ended"


@dataclass(frozen=True)
class TranscriptPartial(Event):
    text: str
    name = "transcript_partial"


@dataclass(frozen=True)
class Transcript(Event):
    text: str
    language: str = "en"
    audio_s: float = 0.0
    """Length of the transcribed audio, seconds."""
    stt_s: float = 0.0
    """Wall-clock seconds the recogniser took."""
    name = "transcript"


@dataclass(frozen=True)
class ReplySentence(Event):
    text: str
    index: int
    name = "reply_sentence"


@dataclass(frozen=True)
class Reply(Event):
    text: str
    interrupted: bool = False
    turn_id: int = 0
    name = "reply"


@dataclass(frozen=True)
class TurnFinished(Event):
    turn_id: int
    outcome: str
    """``answered``, ``no-speech``, ``interrupted``, ``cancelled`` or ``failed``."""
    transcript: str = ""
    reply: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    """Per-stage seconds (names as in ``appliance converse --json``)."""
    name = "turn"


@dataclass(frozen=True)
class ErrorRaised(Event):
    code: str
    message: str
    stage: str = ""
    name = "error"


@dataclass(frozen=True)
class MuteChanged(Event):
    muted: bool
    name = "mute"


@dataclass(frozen=True)
class VolumeChanged(Event):
    volume: int
    """Percent, 0..100."""
    name = "volume"


@dataclass(frozen=True)
class WakeWordChanged(Event):
    models: tuple[str, ...]
    sensitivity: float
    name = "wake_word"


@dataclass(frozen=True)
class CaptureStatus(Event):
    available: bool
    device: str
    message: str = ""
    name = "capture"


@dataclass(frozen=True)
class PresenceChanged(Event):
    present: bool
    faces: int = 0
    """Faces in the frame that decided it."""
    people: int = 0
    """People (person detector) in the frame that decided it."""
    last_seen: float | None = None
    """Unix seconds someone was last seen (None = never)."""
    name = "presence"


@dataclass(frozen=True)
class FacesSeen(Event):
    count: int
    boxes: tuple[tuple[float, float, float, float], ...] = ()
    """(x0, y0, x1, y1) per face, as fractions 0..1 of the frame's width and height; no pixels."""
    scores: tuple[float, ...] = ()
    """Detector score 0..1 per face."""
    name = "faces"


@dataclass(frozen=True)
class CameraChanged(Event):
    on: bool
    """The privacy switch: False = capture stopped at the source."""
    available: bool
    """True while frames arrive."""
    source: str = ""
    message: str = ""
    name = "camera"


@dataclass(frozen=True)
class EmotionDetected(Event):
    label: str
    """``neutral``, ``happy``, ``sad``, ``angry`` or ``stressed``."""
    score: float
    """0..1 confidence of ``label``."""
    valence: float = 0.0
    """-1..1, from the words."""
    arousal: float | None = None
    """-1..1, from the voice (None for typed requests)."""
    turn_id: int = 0
    text: str = ""
    name = "emotion"


@dataclass(frozen=True)
class IntentExecuted(Event):
    """A home-control request carried out (fast local matcher or the LLM's tool call)."""

    intent: str
    """``switch`` (on/off) or ``brightness``."""
    device: str
    action: str
    """``on`` or ``off``; for ``brightness`` the percent set ("30")."""
    topic: str
    payload: str
    via: str
    """``local`` (the fast matcher) or ``llm`` (a tool call)."""
    text: str = ""
    """The request as heard."""
    name = "intent"


@dataclass(frozen=True)
class MqttConnection(Event):
    connected: bool
    broker: str
    """host:port"""
    reason: str = ""
    """Why it is not connected (refused, unreachable, …); empty when connected."""
    name = "mqtt"


@dataclass(frozen=True)
class ElectionDecided(Event):
    """Appliances that heard one wake word elected the one that answers (``rooms``)."""

    result: str
    """``won`` (this appliance answers) or ``lost`` (another one does)."""
    winner: str
    """The answering appliance's device id."""
    claims: tuple[dict[str, Any], ...]
    """Every claim counted, this appliance's first (device_id, wake_word, score, level_dbfs, snr_db, area)."""
    delay_ms: float
    """From the end of the wake word to the decision, ms."""
    refused: dict[str, int] = field(default_factory=dict)
    """Claims not counted, by code (late, unknown peer, malformed, …)."""
    name = "election"


@dataclass(frozen=True)
class BroadcastRelayed(Event):
    """A message for the other rooms, sent from here or received here (``rooms``)."""

    direction: str
    """``sent`` (this appliance broadcast it) or ``received`` (another one did)."""
    id: str
    """The broadcast's id (repeats of it are dropped)."""
    sender: str
    """The sending appliance's device id."""
    text: str
    area: str
    """The area it was meant for; empty for every room."""
    spoken: bool
    """Whether this appliance speaks it (its area matches, and it was not asked for it by voice here)."""
    reached: bool = True
    """For ``sent``: whether it went out to the broker (false with the broker down)."""
    name = "broadcast"


@dataclass(frozen=True)
class RetainedState(Event):
    """A feature's state for the broker's retained ``state/<key>`` topic (timers, lists)."""

    key: str
    payload: str
    """JSON text."""
    name = "retained_state"


@dataclass(frozen=True)
class ModelSwapped(Event):
    """A model was swapped in live (``models use``, ``rollback`` or a reload); engines holders re-point on it."""

    role: str
    """``llm``, ``stt``, ``tts`` or ``wake``."""
    model: str
    previous: str
    sha256: str = ""
    via: str = "use"
    seconds: float = 0.0
    """Load + probe + wait for the turn's end."""
    name = "model_swapped"


@dataclass(frozen=True)
class Forgotten(Event):
    """Something was forgotten on request: every copy of what was said is dropped (broker state, status)."""

    items: int = 0
    name = "forgotten"
