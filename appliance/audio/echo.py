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
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from appliance.audio import SAMPLE_RATE

if TYPE_CHECKING:
    from appliance.audio.sink import AudioSink
    from appliance.audio.source import AudioSource

_LOGGER = logging.getLogger(__name__)

ACTIVE_AFTER_PLAY_S = 0.5
"""Seconds after the last played sample that frames still go through the canceller (the room's tail)."""
REFERENCE_S = 4.0
"""Length of the reference ring: playback may run this far ahead of capture."""
NEAR_END_DBFS = -55.0
"""A cleaned frame this loud while something plays is someone talking over the reply (residual echo
after AEC3 sits near the noise floor, 20-40 dB below)."""
ADAPTED_AFTER_S = 3.0
"""Seconds of playback AEC3 needs before its residual is trusted (its start-up state lasts 2.5 s): no dips before."""
DUCK_S = 1.5
"""How long playback dips after the last near-end frame (see :meth:`EchoCanceller.process`)."""
CONTINUOUS_S = 0.03
"""A block stamped within this of where the previous one ended continues it (timestamp jitter);
further off, the stream is re-anchored (a gap, a stop, a new reply)."""


class EchoCanceller:
    """Echo cancellation (and optionally noise suppression, gain control) for 16 kHz capture frames."""

    def __init__(
        self,
        *,
        noise_suppression: bool = False,
        agc: bool = False,
        delay_hint_ms: int = 0,
        on_near_end: Callable[[float], None] | None = None,
    ) -> None:
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
        self._last_audible_end = -math.inf
        # The sink's side (one player thread): where the next block should start, in 16 kHz samples on the
        # monotonic timeline (from the input's length), and where the resampler's next output sample goes.
        self._rate = 0
        self._resampler: Any = None
        self._in_next: float | None = None
        self._out_next = 0
        self.frames_processed = 0
        """Frames that went through the canceller (not skipped as silent)."""
        self.on_near_end = on_near_end
        """Called (audio thread) with :data:`DUCK_S` when someone talks over playback: the sink dips."""
        self.near_end_frames = 0
        self.cancel = True
        """Cancel echo (False: noise suppression / gain control only; the front end sets it per source)."""

    # -- the sink's side (its player thread or device callback) --------------------------
    def played(self, samples: np.ndarray, rate: int, at_mono: float) -> None:
        """Record a block the sink just handed to the device; ``at_mono`` is when it becomes audible."""
        stamped = at_mono * SAMPLE_RATE
        if self._in_next is None or rate != self._rate or abs(stamped - self._in_next) > CONTINUOUS_S * SAMPLE_RATE:
            self._anchor(rate, stamped)
        assert self._in_next is not None
        self._in_next += len(samples) * SAMPLE_RATE / rate
        if rate != SAMPLE_RATE:
            assert self._resampler is not None
            samples = self._resampler.resample_chunk(samples)
        n = len(samples)
        if not n:
            return
        start = self._out_next
        with self._lock:
            size = len(self._ring)
            first = start % size
            head = min(n, size - first)
            self._ring[first : first + head] = samples[:head]
            self._ring[: n - head] = samples[head:]
            self._last_audible_end = (start + n) / SAMPLE_RATE
        self._out_next = start + n

    def _anchor(self, rate: int, stamped: float) -> None:
        """Start a new reference stream (the first block, or one after a gap): its samples go where stamped."""
        import soxr

        if rate != self._rate:
            # Quick cubic: no buffering (a block comes out with its own 1-sample delay), so the reference is on
            # the ring before the microphone frame that holds its echo is read; HQ holds back 30-40 ms.
            self._resampler = (
                soxr.ResampleStream(rate, SAMPLE_RATE, 1, dtype="int16", quality="QQ") if rate != SAMPLE_RATE else None
            )
            self._rate = rate
        elif self._resampler is not None:
            self._resampler.clear()
        self._in_next = stamped
        self._out_next = round(stamped)

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
        # AEC3's residual-echo suppressor assumes little linear cancellation, so speech quieter than the echo
        # is suppressed with it (double talk); dipping the playback at once lets the rest of a wake word through.
        adapted = self.frames_processed * len(frame) >= ADAPTED_AFTER_S * SAMPLE_RATE
        if self.on_near_end is not None and adapted and _dbfs(frame) > NEAR_END_DBFS:
            self.near_end_frames += 1
            self.on_near_end(DUCK_S)

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


def _dbfs(frame: np.ndarray) -> float:
    power = float(np.dot(frame, frame.astype(np.float32))) / max(len(frame), 1)
    return 10.0 * math.log10(power / 32768.0**2 + 1e-12)


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


def canceller_for(sink: AudioSink, *, aec: str, noise_suppression: bool, agc: bool) -> EchoCanceller | None:
    """A canceller fed by ``sink``'s reference tap, dipping ``sink`` under near-end speech; None if not asked for."""
    from appliance.audio.speaker import SpeakerSink

    speaker = isinstance(sink, SpeakerSink)
    if (aec == "off" or (aec == "auto" and not speaker)) and not (noise_suppression or agc):
        return None
    canceller = EchoCanceller(noise_suppression=noise_suppression, agc=agc, on_near_end=sink.duck)
    sink.on_played.append(canceller.played)
    _LOGGER.info("Echo cancellation: %s (noise suppression %s, gain control %s)", aec, noise_suppression, agc)
    return canceller


def sources_to_cancel(aec: str, sink: AudioSink) -> Callable[[AudioSource], bool]:
    """Whether a capture source, as it opens, needs its echo cancelled (``audio.aec``; see :func:`cancels_echo`)."""
    from appliance.audio.source import MicSource
    from appliance.audio.speaker import SpeakerSink

    speaker = isinstance(sink, SpeakerSink)

    def needs_cancelling(source: AudioSource) -> bool:
        microphone = source.name if isinstance(source, MicSource) else None
        return cancels_echo(aec, speaker=speaker, microphone=microphone)

    return needs_cancelling
