"""Audio sinks: WAV file, raw PCM to stdout, and nowhere; the speaker (PortAudio) is in ``speaker``.

All sinks share one queue discipline: ``play`` enqueues and returns at once,
``wait_done`` blocks until everything queued was played, ``stop`` drops what
is queued (barge-in).  File and stdout sinks can be paced like a real speaker
so timings and barge-in behave the same headless.

The queue is bounded in seconds (``max_queue_s``: the oldest audio goes
first); audio that was queued but never reached the speaker, because the
queue overflowed or the device was lost, is counted in ``lost_samples``, so
a caller can tell whether a reply was heard (:meth:`AudioSink.heard_since`).
The speaker reports a lost device as ``playback-lost`` through ``on_error``
and reopens it with a growing delay (:mod:`.speaker`).
"""

from __future__ import annotations

import collections
import logging
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from appliance.audio.buffer import resample
from appliance.audio.wav import WavWriter

_LOGGER = logging.getLogger(__name__)

BLOCK_SECONDS = 0.02
DUCK_GAIN = 10 ** (-30 / 20)
"""Playback gain while someone talks over a reply (:meth:`AudioSink.duck`): -30 dB."""
MAX_QUEUE_S = 60.0
"""Seconds of audio a sink holds; beyond that the oldest is dropped (and counted as lost)."""

ErrorReport = Callable[[str, str], None]
"""``on_error(code, message)``: how a sink reports a problem (set by the composition root)."""


def volume_gain(volume: int) -> float:
    """Percent to amplitude: a squared curve, so 50 % sounds about half as loud."""
    return (max(0, min(volume, 100)) / 100.0) ** 2


class AudioSink:
    """Queue of int16 chunks at one sample rate, drained by a device or a paced thread."""

    name = "sink"

    def __init__(self, *, volume: int = 100, max_queue_s: float = MAX_QUEUE_S) -> None:
        self.volume = volume
        self.rate = 0
        self.max_queue_s = max_queue_s
        self._chunks: collections.deque[np.ndarray] = collections.deque()
        self._offset = 0  # samples of _chunks[0] already played
        self._queued = 0  # samples in _chunks, not counting _offset
        self._cond = threading.Condition()
        self.samples_played = 0
        self._duck_until = 0.0
        self.on_played: list[Callable[[np.ndarray, int, float], None]] = []
        """Reference taps (echo cancellation): ``(samples, rate, at_mono)`` for each block handed to the
        device, ``at_mono`` being when it becomes audible; called on the player thread, must return at once."""
        self.lost_samples = 0
        """Samples queued that never reached the output (overflow, device lost); barge-in is not loss."""
        self.dropped_chunks = 0
        """Chunks dropped because the queue was over ``max_queue_s``."""
        self.on_error: ErrorReport | None = None

    def heard_since(self, mark: int) -> bool:
        """True if no queued audio was lost since ``mark`` (a ``lost_samples`` value taken before playing)."""
        return self.lost_samples == mark

    def _report(self, code: str, message: str) -> None:
        _LOGGER.error("%s: %s", self.name, message)
        if self.on_error is not None:
            try:
                self.on_error(code, message)
            except Exception:  # a report must never stop playback
                _LOGGER.exception("Reporting %s failed", code)

    def _accepting(self) -> bool:
        """False while the output is gone: play() then counts the audio as lost instead of queueing it."""
        return True

    # -- producer side ------------------------------------------------------
    def play(self, samples: np.ndarray, rate: int, *, min_volume: int = 0) -> None:
        """Queue audio for playback; returns immediately.

        ``min_volume`` is a floor under the user's volume: the earcon of a capture
        not started by the wake word must be heard even at ``volume 0``.
        """
        if not len(samples):
            return
        if not self.rate:
            self._open(rate)
        if rate != self.rate:
            samples = resample(samples, rate, self.rate)
        gain = volume_gain(max(self.volume, min_volume))
        if gain != 1.0:
            samples = (samples.astype(np.float32) * gain).astype(np.int16)
        with self._cond:
            if not self._accepting():
                self.lost_samples += len(samples)
                return
            self._chunks.append(samples)
            self._queued += len(samples)
            limit = int(self.max_queue_s * self.rate)
            while self._queued - self._offset > limit and len(self._chunks) > 1:
                self._drop_head()
            self._cond.notify_all()

    def _drop_head(self) -> None:
        """Drop the oldest chunk as lost (the lock is held)."""
        head = self._chunks.popleft()
        self._queued -= len(head)
        self.lost_samples += len(head) - self._offset
        self._offset = 0
        self.dropped_chunks += 1
        if self.dropped_chunks in (1, 10, 100) or self.dropped_chunks % 1000 == 0:
            _LOGGER.warning(
                "%s: over %.0f s queued; %d chunks dropped", self.name, self.max_queue_s, self.dropped_chunks
            )

    def _lose_queue(self) -> None:
        """Everything queued is lost (the device went away); waiters are released."""
        with self._cond:
            self.lost_samples += self._queued - self._offset
            self._chunks.clear()
            self._queued = 0
            self._offset = 0
            self._cond.notify_all()

    def duck(self, seconds: float) -> None:
        """Play at DUCK_GAIN for the next ``seconds`` (any thread): someone is talking over the reply."""
        self._duck_until = time.monotonic() + seconds

    def queued_seconds(self) -> float:
        with self._cond:
            total = self._queued - self._offset
        return total / self.rate if self.rate else 0.0

    def wait_done(self, timeout: float | None = None) -> bool:
        """Block until the queue is empty; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._chunks:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return True

    def stop(self) -> None:
        """Drop everything queued (barge-in)."""
        with self._cond:
            self._chunks.clear()
            self._queued = 0
            self._offset = 0
            self._cond.notify_all()

    # -- consumer side ------------------------------------------------------
    def _take(self, out: np.ndarray) -> int:
        """Fill ``out`` from the queue; returns samples written (rest zeroed)."""
        written = 0
        with self._cond:
            while written < len(out) and self._chunks:
                head = self._chunks[0]
                n = min(len(out) - written, len(head) - self._offset)
                out[written : written + n] = head[self._offset : self._offset + n]
                written += n
                self._offset += n
                if self._offset >= len(head):
                    self._chunks.popleft()
                    self._queued -= len(head)
                    self._offset = 0
            if not self._chunks:
                self._cond.notify_all()
        out[written:] = 0
        if written and time.monotonic() < self._duck_until:
            np.multiply(out[:written], DUCK_GAIN, out=out[:written], casting="unsafe")
        self.samples_played += written
        return written

    def _open(self, rate: int) -> None:
        self.rate = rate

    def _tap(self, samples: np.ndarray, at_mono: float) -> None:
        for callback in self.on_played:
            callback(samples, self.rate, at_mono)

    def close(self) -> None:
        self.stop()


class PacedSink(AudioSink):
    """Drains the queue on a thread, in real time when ``realtime``, writing blocks somewhere."""

    def __init__(self, *, realtime: bool, volume: int = 100) -> None:
        super().__init__(volume=volume)
        self.realtime = realtime
        self._thread: threading.Thread | None = None
        self._closing = False

    def _open(self, rate: int) -> None:
        super()._open(rate)
        self._thread = threading.Thread(target=self._drain, name=f"{self.name}-player", daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        block = np.zeros(int(self.rate * BLOCK_SECONDS), dtype=np.int16)
        next_due = time.monotonic()
        while True:
            with self._cond:
                while not self._chunks and not self._closing:
                    self._cond.wait()
                    next_due = time.monotonic()
                if self._closing and not self._chunks:
                    return
            n = self._take(block)
            if n:
                self._emit(block[:n])
                self._tap(block[:n], time.monotonic())
            if self.realtime:
                next_due += n / self.rate
                delay = next_due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)

    def _emit(self, samples: np.ndarray) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.wait_done(timeout=None if not self.realtime else 60.0)
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5.0)


class WavSink(PacedSink):
    """Everything played goes into one WAV file (at the first chunk's rate)."""

    def __init__(self, path: Path | str, *, realtime: bool = False, volume: int = 100) -> None:
        super().__init__(realtime=realtime, volume=volume)
        self.path = Path(path)
        self.name = f"wav:{self.path.name}"
        self._writer: WavWriter | None = None

    def _open(self, rate: int) -> None:
        self._writer = WavWriter(self.path, rate)
        super()._open(rate)

    def _emit(self, samples: np.ndarray) -> None:
        assert self._writer is not None
        self._writer.write(samples)

    def close(self) -> None:
        super().close()
        if self._writer is not None:
            self._writer.close()


class PcmStreamSink(PacedSink):
    """Raw s16le PCM to a binary stream (``-`` = stdout); the rate is the voice's."""

    def __init__(self, stream: BinaryIO | None = None, *, realtime: bool = False, volume: int = 100) -> None:
        super().__init__(realtime=realtime, volume=volume)
        self.name = "stdout"
        self._stream = stream or sys.stdout.buffer

    def _emit(self, samples: np.ndarray) -> None:
        self._stream.write(samples.astype("<i2").tobytes())
        self._stream.flush()


class NullSink(PacedSink):
    """Plays into nothing, in real time (headless without an output device)."""

    name = "null"

    def __init__(self, *, realtime: bool = True, volume: int = 100) -> None:
        super().__init__(realtime=realtime, volume=volume)

    def _emit(self, samples: np.ndarray) -> None:
        pass


def earcon(rate: int) -> np.ndarray:
    """A short rising two-tone chime, generated (no asset file)."""
    tones = []
    for freq in (880.0, 1320.0):
        t = np.arange(int(rate * 0.07)) / rate
        envelope = np.sin(np.pi * t / t[-1]) ** 2
        tones.append(0.25 * envelope * np.sin(2 * np.pi * freq * t))
    return (np.concatenate(tones) * 32767).astype(np.int16)


def __getattr__(name: str) -> Any:
    """``audio.sink.SpeakerSink`` still works: the speaker lives in ``speaker`` (imported late: it imports us)."""
    if name == "SpeakerSink":
        from appliance.audio.speaker import SpeakerSink

        return SpeakerSink
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
