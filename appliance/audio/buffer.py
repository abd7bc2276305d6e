"""Preallocated buffers for the hot audio path: frame ring, pre-roll, framing, resampling."""

from __future__ import annotations

import threading

import numpy as np

from appliance.audio import FRAME_SAMPLES, SAMPLE_RATE


class FrameRing:
    """Single-producer/single-consumer ring of fixed-size int16 frames.

    The producer (a PortAudio callback) never blocks or allocates: when the
    ring is full the oldest frame is overwritten and counted in ``dropped``.
    """

    def __init__(self, capacity: int, frame_samples: int = FRAME_SAMPLES) -> None:
        self._frames = np.zeros((capacity, frame_samples), dtype=np.int16)
        self._capacity = capacity
        self._head = 0  # next slot to write (monotonic counter)
        self._tail = 0  # next slot to read (monotonic counter)
        self._ready = threading.Event()
        self._lock = threading.Lock()
        self.dropped = 0

    def write(self, frame: np.ndarray) -> None:
        """Copy one frame in (drop-oldest when full)."""
        with self._lock:
            if self._head - self._tail >= self._capacity:
                self._tail += 1
                self.dropped += 1
            self._frames[self._head % self._capacity, :] = frame
            self._head += 1
        self._ready.set()

    def read_into(self, out: np.ndarray, timeout: float) -> bool:
        """Copy the oldest frame into ``out``; False when none arrived in ``timeout`` s."""
        while True:
            with self._lock:
                if self._tail < self._head:
                    out[:] = self._frames[self._tail % self._capacity]
                    self._tail += 1
                    return True
                self._ready.clear()
            if not self._ready.wait(timeout):
                return False

    def __len__(self) -> int:
        return self._head - self._tail


class SampleRing:
    """The last ``seconds`` of audio, for pre-roll and for re-running detectors."""

    def __init__(self, seconds: float, rate: int = SAMPLE_RATE) -> None:
        self._data = np.zeros(max(int(seconds * rate), 1), dtype=np.int16)
        self._filled = 0
        self._pos = 0

    def extend(self, samples: np.ndarray) -> None:
        n = len(samples)
        size = len(self._data)
        if n >= size:
            self._data[:] = samples[-size:]
            self._pos = 0
            self._filled = size
            return
        end = self._pos + n
        if end <= size:
            self._data[self._pos : end] = samples
        else:
            first = size - self._pos
            self._data[self._pos :] = samples[:first]
            self._data[: n - first] = samples[first:]
        self._pos = end % size
        self._filled = min(size, self._filled + n)

    def latest(self, n: int | None = None) -> np.ndarray:
        """A copy of the newest ``n`` samples (all held samples by default), oldest first."""
        n = self._filled if n is None else min(n, self._filled)
        if n == 0:
            return np.zeros(0, dtype=np.int16)
        start = (self._pos - n) % len(self._data)
        if start + n <= len(self._data):
            return self._data[start : start + n].copy()
        return np.concatenate((self._data[start:], self._data[: (start + n) % len(self._data)]))

    def clear(self) -> None:
        self._filled = 0
        self._pos = 0


class Framer:
    """Cut an arbitrary stream of samples into fixed frames (bytes or arrays in)."""

    def __init__(self, frame_samples: int = FRAME_SAMPLES) -> None:
        self._frame = frame_samples
        self._pending = np.zeros(0, dtype=np.int16)

    def push(self, samples: np.ndarray) -> list[np.ndarray]:
        data = np.concatenate((self._pending, samples)) if len(self._pending) else samples
        whole = len(data) // self._frame * self._frame
        frames = [data[i : i + self._frame] for i in range(0, whole, self._frame)]
        self._pending = data[whole:].copy()
        return frames

    def flush(self) -> np.ndarray | None:
        """The incomplete tail frame zero-padded, or None."""
        if not len(self._pending):
            return None
        frame = np.zeros(self._frame, dtype=np.int16)
        frame[: len(self._pending)] = self._pending
        self._pending = np.zeros(0, dtype=np.int16)
        return frame


def resample(samples: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Whole-buffer, high-quality rate conversion (int16 in, int16 out)."""
    if rate_in == rate_out or len(samples) == 0:
        return samples
    import soxr

    return soxr.resample(samples, rate_in, rate_out, quality="HQ").astype(np.int16, copy=False)


class StreamResampler:
    """Chunk-by-chunk rate conversion that keeps filter state between chunks."""

    def __init__(self, rate_in: int, rate_out: int) -> None:
        import soxr

        self.rate_in = rate_in
        self.rate_out = rate_out
        self._stream = soxr.ResampleStream(rate_in, rate_out, 1, dtype="int16", quality="HQ")

    def process(self, samples: np.ndarray, last: bool = False) -> np.ndarray:
        return self._stream.resample_chunk(samples, last=last)


def rms_dbfs(samples: np.ndarray) -> float:
    """Root-mean-square level of int16 samples in dB relative to full scale."""
    if len(samples) == 0:
        return -120.0
    mean_square = float(np.mean(np.square(samples, dtype=np.float64)))
    return 10.0 * np.log10(max(mean_square, 1e-12) / (32768.0**2))
