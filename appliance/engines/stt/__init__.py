"""Speech-to-text: one narrow interface over Whisper and Vosk.

Audio goes in as 16 kHz mono int16 chunks; a :class:`SttResult` comes out.
Engines are blocking and run on worker threads; a session may decode as
audio arrives (Vosk) and report partial text through ``on_partial``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class SttResult:
    text: str
    language: str = "en"
    audio_s: float = 0.0
    """Seconds of audio transcribed."""
    seconds: float = 0.0
    """Wall-clock seconds the engine took for the final result."""
    window: str = ""
    """How Whisper encoded it (``short``/``full``); empty for other engines."""


PartialCallback = Callable[[str], None]


class SttSession(Protocol):
    """One utterance: feed chunks as they arrive, then finish for the final text."""

    def feed(self, samples: np.ndarray) -> None: ...

    def finish(self) -> SttResult: ...


class SttEngine(Protocol):
    name: str
    supports_speculation: bool
    """True when transcribing a prefix of the utterance is cheap and side-effect free."""

    def session(self, on_partial: PartialCallback | None = None) -> SttSession: ...

    def transcribe(self, samples: np.ndarray) -> SttResult:
        """Whole utterance in, final text out (blocking)."""
        ...

    def warm_up(self) -> None:
        """Run once on silence so the first real request is not slow."""
        ...
