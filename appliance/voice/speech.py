"""Speaking on the sink: speech queued, waited for, and a lost playback device told as ``playback-lost``.

Every path that speaks goes through :class:`Speech`: a reply's sentences as they
are synthesized (:meth:`appliance.voice.turn.Turn._respond`), ``say``'s text, a ringing
alert and the apology (:class:`appliance.voice.pipeline.Pipeline`).
"""

from __future__ import annotations

import asyncio
import time

import numpy as np

from appliance.audio.sink import AudioSink
from appliance.core.errors import AudioError
from appliance.voice.reply import Synthesizer

PLAYBACK_LIMIT_S = 120.0
"""The longest wait for queued speech to be played out (seconds)."""


class Speech:
    """One stretch of speech on the sink, from its start (when it is built) until it has been heard."""

    def __init__(self, sink: AudioSink, sample_rate: int, *, failure: str) -> None:
        self._sink = sink
        self._rate = sample_rate
        """Hertz of the audio given to :meth:`play` (the voice's)."""
        self._failure = failure
        """What could not be done, for the ``playback-lost`` message ("could not say it")."""
        self._lost_mark = sink.lost_samples
        self.first_audio_mono: float | None = None
        """Monotonic seconds when the first audio was queued."""

    def play(self, audio: np.ndarray) -> None:
        """Queue ``audio`` after what is already playing."""
        if self.first_audio_mono is None:
            self.first_audio_mono = time.monotonic()
        self._sink.play(audio, self._rate)

    async def say(self, tts: Synthesizer, text: str) -> None:
        """Synthesize ``text`` off the event loop, then queue it."""
        self.play(await asyncio.to_thread(tts.synthesize_all, text))

    async def played(self, timeout_s: float = PLAYBACK_LIMIT_S) -> float:
        """Wait until everything queued has been played (at most ``timeout_s``); the monotonic time it ended."""
        await asyncio.to_thread(self._sink.wait_done, timeout_s)
        return time.monotonic()

    def check_heard(self) -> None:
        """Raise ``playback-lost`` if any of the speech never reached the output (the device was lost)."""
        if not self._sink.heard_since(self._lost_mark):
            raise AudioError("playback-lost", f"{self._failure}: the playback device was lost")

    async def heard(self) -> None:
        """Wait until the speech has been played; ``playback-lost`` if it was not heard."""
        await self.played()
        self.check_heard()
