"""Acoustic echo cancellation: the appliance's own voice taken out of the microphone signal.

A narrow adapter over WebRTC's audio processing module (AEC3, with its noise
suppressor and gain control as separate options) from ``pywebrtc-audio``.
The far-end reference is exactly what the sink plays: the sink calls
:meth:`EchoCanceller.played` with each block as it goes to the device,
stamped with the monotonic time it becomes audible (the sink's output
latency included).  Those samples are resampled to 16 kHz and written into a
ring on the monotonic timeline, so the audio thread can take the reference
for the very interval its microphone frame covers; what is left over (the
room's path, the device's unreported buffering) is AEC3's own adaptive delay
estimate's job.

:meth:`EchoCanceller.process` runs on the audio thread, in place, on
preallocated buffers (the library splits a frame into its 10 ms blocks in one
call).  With nothing played for :data:`ACTIVE_AFTER_PLAY_S` it returns at once:
listening to a quiet room costs nothing.
"""

from __future__ import annotations

import logging
import math
import threading
from typing import TYPE_CHECKING

import numpy as np

from . import SAMPLE_RATE
from .buffer import StreamResampler

if TYPE_CHECKING:
    from ..frontend import FrontEnd
    from .sink import AudioSink

_LOGGER = logging.getLogger(__name__)

ACTIVE_AFTER_PLAY_S = 0.5
"""Seconds after the last played sample that frames still go through the canceller (the room's tail)."""
REFERENCE_S = 4.0
"""Length of the reference ring: playback may run this far ahead of capture."""
CONTINUOUS_S = 0.03
"""A block stamped within this of where the previous one ended continues it (timestamp jitter);
further off, the stream is re-anchored (a gap, a stop, a new reply)."""


class EchoCanceller:
    """Echo cancellation (and optionally noise suppression, gain control) for 16 kHz capture frames."""

    def __init__(self, *, noise_suppression: bool = False, agc: bool = False, delay_hint_ms: int = 0) -> None:
        from pywebrtc_audio import AudioProcessor

        self.noise_suppression = noise_suppression
        self.agc = agc
        self._apm = AudioProcessor(
            sample_rate=SAMPLE_RATE,
            echo_cancellation=True,
            noise_suppression=noise_suppression,
            auto_gain_control=agc,
            stream_delay_ms=delay_hint_ms,
        )
        self._ring = np.zeros(int(REFERENCE_S * SAMPLE_RATE), dtype=np.int16)
        self._far = np.zeros(0, dtype=np.int16)  # the reference for one frame (resized once)
        self._lock = threading.Lock()
        self._next_index: int | None = None  # ring position (absolute sample) where the next block continues
        self._last_audible_end = -math.inf
        self._resamplers: dict[int, StreamResampler] = {}
        self.frames_processed = 0
        """Frames that went through the canceller (not skipped as silent)."""
        self.cancel = True
        """Cancel echo (False: noise suppression / gain control only; the front end sets it per source)."""

    # -- the sink's side (its player thread or device callback) --------------------------
    def played(self, samples: np.ndarray, rate: int, at_mono: float) -> None:
        """Record a block the sink just handed to the device; ``at_mono`` is when it becomes audible."""
        if rate != SAMPLE_RATE:
            resampler = self._resamplers.get(rate)
            if resampler is None:
                resampler = self._resamplers[rate] = StreamResampler(rate, SAMPLE_RATE)
            samples = resampler.process(samples)
        n = len(samples)
        if not n:
            return
        stamped = round(at_mono * SAMPLE_RATE)
        with self._lock:
            nxt = self._next_index
            start = nxt if nxt is not None and abs(stamped - nxt) <= CONTINUOUS_S * SAMPLE_RATE else stamped
            size = len(self._ring)
            first = start % size
            head = min(n, size - first)
            self._ring[first : first + head] = samples[:head]
            self._ring[: n - head] = samples[head:]
            self._next_index = start + n
            self._last_audible_end = (start + n) / SAMPLE_RATE

    # -- the audio thread's side ------------------------------------------------------
    def active(self, at_mono: float) -> bool:
        """Whether a frame starting at ``at_mono`` can hold echo of something played."""
        return at_mono <= self._last_audible_end + ACTIVE_AFTER_PLAY_S

    def process(self, frame: np.ndarray, at_mono: float) -> None:
        """Cancel echo in ``frame`` (16 kHz int16, in place); ``at_mono`` is when its first sample was heard."""
        if not self.cancel or not self.active(at_mono):
            if self.noise_suppression or self.agc:
                frame[:] = self._apm.process(frame, self._silence(len(frame)))
            return
        far = self._reference(len(frame), round(at_mono * SAMPLE_RATE))
        frame[:] = self._apm.process(frame, far)
        self.frames_processed += 1

    def _reference(self, n: int, start: int) -> np.ndarray:
        """The played samples for [start, start+n) on the ring, then cleared (so nothing plays twice)."""
        if len(self._far) != n:
            self._far = np.zeros(n, dtype=np.int16)
        size = len(self._ring)
        first = start % size
        head = min(n, size - first)
        with self._lock:
            self._far[:head] = self._ring[first : first + head]
            self._far[head:] = self._ring[: n - head]
            self._ring[first : first + head] = 0
            self._ring[: n - head] = 0
        return self._far

    def _silence(self, n: int) -> np.ndarray:
        if len(self._far) != n:
            self._far = np.zeros(n, dtype=np.int16)
        self._far[:] = 0
        return self._far

    def reset(self) -> None:
        """Forget the adapted filter (a device change)."""
        self._apm.reset()


def erle_db(near: np.ndarray, cleaned: np.ndarray) -> float:
    """Echo return loss enhancement: how much quieter the echo-only signal came out, in dB."""
    before = float(np.mean(near.astype(np.float64) ** 2))
    after = float(np.mean(cleaned.astype(np.float64) ** 2))
    return 10.0 * math.log10(max(before, 1e-9) / max(after, 1e-9))


def cancels_echo(aec: str, *, speaker: bool, microphone: str | None) -> bool:
    """The ``audio.aec`` decision: ``microphone`` is the capture device's name (None for a file or a pipe)."""
    if aec != "auto":
        return aec == "on"
    if not speaker or microphone is None:
        return False
    return "echo-cancel" not in microphone.lower().replace("_", "-").replace(" ", "-")


def attach(frontend: FrontEnd, sink: AudioSink, *, aec: str, noise_suppression: bool, agc: bool) -> None:
    """Give the front end a canceller fed by ``sink``'s reference tap, when the settings ask for one."""
    from .sink import SpeakerSink
    from .source import MicSource

    speaker = isinstance(sink, SpeakerSink)
    if (aec == "off" or (aec == "auto" and not speaker)) and not (noise_suppression or agc):
        return
    canceller = EchoCanceller(noise_suppression=noise_suppression, agc=agc)
    sink.on_played.append(canceller.played)
    frontend.echo = canceller
    frontend.echo_for = lambda source: cancels_echo(
        aec, speaker=speaker, microphone=source.name if isinstance(source, MicSource) else None
    )
    _LOGGER.info("Echo cancellation: %s (noise suppression %s, gain control %s)", aec, noise_suppression, agc)
