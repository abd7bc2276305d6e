"""Messages from the audio thread to the pipeline: one frozen class per decision.

The front end decides per 80 ms frame; only these decisions cross to the event
loop (through the pipeline's inbox), and the pipeline dispatches them by class.
Times come in two clocks: ``at_s`` on the audio timeline (seconds of audio
read since the source opened) and ``mono`` (``time.monotonic()`` when the
deciding frame was read), so latency can be measured in either.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from appliance.engines.wake import Detection


@dataclass(frozen=True)
class FrontEndMessage:
    at_s: float
    """Audio-timeline seconds at the end of the frame that decided it."""
    mono: float
    """time.monotonic() when that frame was read."""


@dataclass(frozen=True)
class WakeHeard(FrontEndMessage):
    """A wake word fired; capture ``capture_id`` has begun."""

    capture_id: int
    detection: Detection
    level_dbfs: float = -120.0
    """Speech level over the wake word, dBFS (the loudest 80 ms of its last second)."""
    snr_db: float = 0.0
    """That level over the room's noise in the audio before it, dB."""


@dataclass(frozen=True)
class CaptureMessage(FrontEndMessage):
    """Something about one capture (a request being listened to)."""

    capture_id: int


@dataclass(frozen=True)
class SpeechBegan(CaptureMessage):
    """The request's speech started (after the wake word's own tail)."""


@dataclass(frozen=True)
class SpeechPaused(CaptureMessage):
    """A short pause: worth transcribing and answering speculatively."""

    audio: np.ndarray
    """The request so far, 16 kHz mono int16."""
    speech_end_s: float
    """Audio-timeline seconds where the last voiced frame ended."""


@dataclass(frozen=True)
class SpeechResumed(CaptureMessage):
    """The speaker carried on after a speculative pause: drop that attempt."""


@dataclass(frozen=True)
class CaptureEnded(CaptureMessage):
    """The request is over: its endpoint closed, or it reached the length limit."""

    audio: np.ndarray
    """The whole request, 16 kHz mono int16."""
    speech_end_s: float
    """Audio-timeline seconds where the last voiced frame ended."""
    max_length: bool = False
    """True when cut at ``vad.max_utterance_s`` rather than ended by silence."""
    semantic: bool = False
    """True when the turn model judged the request finished, so it closed at ``vad.end_silence_min_s``."""
    turn_probability: float | None = None
    """The turn model's completion probability (0..1) at the last pause; None when not asked or it failed."""
    provisional: bool = False
    """The turn model judged the request finished, but the front end keeps listening: the turn
    confirms the end (:meth:`~appliance.voice.frontend.FrontEnd.confirm_end`) once the transcript reads
    as a whole request; if it does not ("... the age of"), a ``SpeechResumed`` or a final
    ``CaptureEnded`` at ``vad.end_silence_max_s`` follows."""


@dataclass(frozen=True)
class CaptureTimedOut(CaptureMessage):
    """Nobody spoke within ``vad.no_speech_timeout_s``."""


@dataclass(frozen=True)
class CaptureAudio(CaptureMessage):
    """Captured audio for a streaming STT engine (the request so far, then each frame)."""

    audio: np.ndarray


@dataclass(frozen=True)
class InputStatus(FrontEndMessage):
    """The capture device opened (``available``) or was lost."""

    available: bool
    device: str
    """The device's name, or why it could not be opened."""


@dataclass(frozen=True)
class InputEnded(FrontEndMessage):
    """A recording used as the input has been read to its end."""


@dataclass(frozen=True)
class LivenessPing(FrontEndMessage):
    """Sent by the liveness loop; the pipeline echoes ``mono`` to prove its inbox is served."""
