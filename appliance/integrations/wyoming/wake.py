"""Wake-word spotting for Wyoming clients: one detector per audio stream, from a small pool.

The daemon's own detector belongs to its audio thread and keeps that stream's state (the
melspectrogram and embedding windows, each word's decision rule), and its TensorFlow Lite
interpreters cannot be shared between threads.  So a Wyoming stream gets a detector of its
own, built from the same model files and ``[wake]`` rules: a few MB, loaded on first use
and kept for the next stream, never more than ``max_clients`` of them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable
from pathlib import Path

import numpy as np

from appliance.audio.buffer import Framer
from appliance.engines.wake import Detection, WakeWordDetector, frame_time, load_detector
from appliance.settings import WakeSettings


class WakeDetectors:
    """Detectors for Wyoming streams, built on the wake worker thread and reused after a stream ends."""

    def __init__(
        self, settings: Callable[[], WakeSettings], resolve: Callable[[str], Path], pool: concurrent.futures.Executor
    ) -> None:
        self._settings = settings
        self._resolve = resolve
        self._pool = pool
        self._idle: list[tuple[WakeSettings, WakeWordDetector]] = []
        self.loaded = 0
        """Detectors built so far (one per stream served at once)."""

    async def acquire(self) -> tuple[WakeSettings, WakeWordDetector]:
        """A detector for the wake words configured now, fresh for a new stream."""
        wanted = self._settings()
        while self._idle:
            settings, detector = self._idle.pop()
            if settings == wanted:
                detector.restart()
                return settings, detector
        loop = asyncio.get_running_loop()
        detector = await loop.run_in_executor(self._pool, load_detector, wanted, self._resolve)
        self.loaded += 1
        return wanted, detector

    def release(self, settings: WakeSettings, detector: WakeWordDetector) -> None:
        """Keep it for the next stream (a reload that changed ``[wake]`` makes it stale: then it is dropped)."""
        self._idle.append((settings, detector))

    def clear(self) -> None:
        self._idle.clear()


class WakeStream:
    """One client's audio in 80 ms frames through one detector; detections of the names asked for."""

    def __init__(self, detector: WakeWordDetector, names: list[str] | None) -> None:
        self.detector = detector
        self.names = set(names) if names else None
        self.detections: list[Detection] = []
        self._framer = Framer()
        self._frames = 0

    def process(self, samples: np.ndarray) -> list[Detection]:
        """Feed 16 kHz mono samples (blocking: run it on the wake worker thread); the new detections."""
        found = []
        for frame in self._framer.push(samples):
            detection = self.detector.process(frame, frame_time(self._frames))
            self._frames += 1
            if detection is not None and (self.names is None or detection.model in self.names):
                found.append(detection)
        self.detections.extend(found)
        return found
