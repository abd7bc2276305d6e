"""A client's audio as the engines take it: 16-bit PCM at any common rate, mono, resampled to 16 kHz.

One :class:`PcmInput` per request (``audio-start`` … ``audio-stop``): it checks the format
once, mixes stereo down, resamples chunk by chunk with soxr (keeping the filter's state),
and counts the seconds sent, so a request stops being read at ``max_audio_s``.
"""

from __future__ import annotations

import numpy as np

from appliance.audio import SAMPLE_RATE
from appliance.audio.buffer import StreamResampler
from appliance.integrations.wyoming.framing import WyomingError

MIN_RATE = 8_000
"""Hertz: the lowest input rate accepted (telephone audio)."""
MAX_RATE = 96_000
"""Hertz: the highest input rate accepted."""
WIDTH = 2
"""Bytes per sample: 16-bit signed little-endian, what every Wyoming satellite sends."""
MAX_CHANNELS = 2


class PcmInput:
    """One request's audio: format checked, mixed to mono, resampled to 16 kHz, bounded in seconds."""

    def __init__(self, rate: object, width: object, channels: object, *, max_s: float) -> None:
        if not isinstance(rate, int) or not MIN_RATE <= rate <= MAX_RATE:
            raise WyomingError("wyoming-bad-audio", f"rate {rate!r} is not allowed: {MIN_RATE}..{MAX_RATE} Hz")
        if width != WIDTH:
            raise WyomingError("wyoming-bad-audio", f"width {width!r} is not allowed: 2 (16-bit PCM)")
        if not isinstance(channels, int) or not 1 <= channels <= MAX_CHANNELS:
            raise WyomingError("wyoming-bad-audio", f"channels {channels!r} is not allowed: 1 or 2")
        self.rate = rate
        self.channels = channels
        self.max_s = max_s
        self.seconds = 0.0
        """Seconds of the client's audio taken so far."""
        self._resampler = StreamResampler(rate, SAMPLE_RATE) if rate != SAMPLE_RATE else None
        self._odd = b""

    def feed(self, payload: bytes | None) -> np.ndarray:
        """One chunk's bytes as 16 kHz mono int16 (empty while the resampler fills)."""
        frame = WIDTH * self.channels
        raw = self._odd + (payload or b"")
        whole = len(raw) // frame * frame
        raw, self._odd = raw[:whole], raw[whole:]
        self.seconds += whole / frame / self.rate
        if self.seconds > self.max_s:
            raise WyomingError("wyoming-audio-too-long", f"more than {self.max_s:g} s of audio in one request")
        samples = np.frombuffer(raw, dtype="<i2")
        if self.channels == 2:
            samples = ((samples[0::2].astype(np.int32) + samples[1::2]) // 2).astype(np.int16)
        return self._resample(samples.astype(np.int16, copy=False), last=False)

    def finish(self) -> np.ndarray:
        """What the resampler still holds, at the end of the request."""
        return self._resample(np.zeros(0, dtype=np.int16), last=True)

    def _resample(self, samples: np.ndarray, *, last: bool) -> np.ndarray:
        if self._resampler is None:
            return samples.copy()  # the payload's buffer is read-only and belongs to the event
        return self._resampler.process(samples, last=last)
