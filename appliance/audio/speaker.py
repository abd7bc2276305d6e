"""The speaker: a PortAudio output stream drained by its callback, reopened when the device is lost.

A watcher thread checks the stream every ``WATCH_S``: once it is no longer
active (unplugged, an ALSA error, a callback that raised), what was queued
is lost (``lost_samples``), ``playback-lost`` is reported through
``on_error``, and the device is reopened after ``REOPEN_DELAYS_S``. The
stream comes from a :data:`StreamFactory`, so tests drive a fake one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from appliance.audio.sink import BLOCK_SECONDS, MAX_QUEUE_S, AudioSink
from appliance.core.errors import AudioError

_LOGGER = logging.getLogger(__name__)

REOPEN_DELAYS_S = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
"""Waits between attempts to reopen a lost playback device (the last one repeats)."""
WATCH_S = 0.25
"""How often the speaker checks that its stream is still running."""

StreamFactory = Callable[[int, Callable[..., None]], tuple[Any, int]]
"""``factory(rate, callback) -> (started stream, rate it plays at)``; raises when the device cannot be opened."""


def sounddevice_stream(device_spec: str) -> StreamFactory:
    """The real output: a started PortAudio stream on ``device_spec`` (at ``rate``, else the device's own)."""

    def open_stream(rate: int, callback: Callable[..., None]) -> tuple[Any, int]:
        import sounddevice as sd

        from appliance.audio.source import find_device

        device = find_device(device_spec, kind="output")
        try:
            sd.check_output_settings(device=device, samplerate=rate, channels=1, dtype="int16")
        except Exception:  # noqa: BLE001 - play at the device's rate instead
            rate = int(sd.query_devices(device, "output")["default_samplerate"])
        stream = sd.OutputStream(
            samplerate=rate,
            channels=1,
            dtype="int16",
            device=device,
            callback=callback,
            blocksize=int(rate * BLOCK_SECONDS),
        )
        stream.start()
        return stream, rate

    return open_stream


def reopen_delay(failures: int) -> float:
    """Seconds before the next attempt after ``failures`` failed reopens (0 = the first attempt)."""
    return REOPEN_DELAYS_S[min(failures, len(REOPEN_DELAYS_S) - 1)]


class SpeakerSink(AudioSink):
    """PortAudio output stream whose callback drains the queue; a lost device is reopened with backoff.

    A watcher thread checks the stream every ``WATCH_S``: once it is no longer
    active (unplugged, ALSA error, a callback that raised), the queue is lost
    (``lost_samples``), ``playback-lost`` is reported through ``on_error``,
    and the device is reopened after ``REOPEN_DELAYS_S``; meanwhile ``play``
    counts audio as lost at once, so ``wait_done`` never waits for a speaker
    that is not there.
    """

    def __init__(
        self,
        device: str = "default",
        *,
        volume: int = 100,
        max_queue_s: float = MAX_QUEUE_S,
        stream_factory: StreamFactory | None = None,
    ) -> None:
        super().__init__(volume=volume, max_queue_s=max_queue_s)
        self.name = f"speaker:{device}"
        self._device_spec = device
        self._factory = stream_factory or sounddevice_stream(device)
        self._stream: Any = None
        self._lost = False
        self._failures = 0
        self._retry_at = 0.0
        self.lost_count = 0
        """Times the device was lost."""
        self.reopened = 0
        """Times it came back."""
        self._closing = threading.Event()
        self._watcher: threading.Thread | None = None

    def _open(self, rate: int) -> None:
        try:
            self._stream, rate = self._factory(rate, self._callback)
        except AudioError:
            raise
        except Exception as err:
            raise AudioError(
                "playback-unavailable", f"cannot open playback device {self._device_spec!r}: {err}"
            ) from err
        super()._open(rate)
        self._watcher = threading.Thread(target=self._watch, name=f"{self.name}-watch", daemon=True)
        self._watcher.start()

    def _accepting(self) -> bool:
        return not self._lost

    @property
    def lost(self) -> bool:
        """True while the device is gone (and being reopened)."""
        return self._lost

    def _callback(self, outdata: np.ndarray, frames: int, time_info: Any, status: object) -> None:
        if self._take(outdata[:, 0]) and self.on_played:  # audible after the device's reported output latency
            latency = time_info.outputBufferDacTime - time_info.currentTime
            if not 0.0 <= latency < 1.0:  # some host APIs report no DAC time
                latency = float(getattr(self._stream, "latency", 0.0))
            self._tap(outdata[:, 0], time.monotonic() + latency)

    def _watch(self) -> None:
        while not self._closing.wait(WATCH_S):
            try:
                if not self._lost:
                    if self._stream is not None and not bool(getattr(self._stream, "active", True)):
                        self._device_lost("the output stream stopped")
                elif time.monotonic() >= self._retry_at:
                    self._try_reopen()
            except Exception:  # the watcher must outlive any surprise from the audio stack
                _LOGGER.exception("%s: watching the stream failed", self.name)

    def _device_lost(self, why: str) -> None:
        with self._cond:
            self._lost = True
        self.lost_count += 1
        self._failures = 0
        self._retry_at = time.monotonic() + reopen_delay(0)
        self._lose_queue()
        self._close_stream()
        self._report("playback-lost", f"playback device {self._device_spec!r} lost ({why}); reopening")

    def _try_reopen(self) -> None:
        try:
            stream, rate = self._factory(self.rate, self._callback)
        except Exception as err:  # noqa: BLE001 - still gone (logged): try again later, a little later each time
            self._failures += 1
            self._retry_at = time.monotonic() + reopen_delay(self._failures)
            _LOGGER.debug("%s: reopen failed (%s); next try in %.1f s", self.name, err, reopen_delay(self._failures))
            return
        with self._cond:
            self._stream, self.rate = stream, rate
            self._lost = False
        self.reopened += 1
        _LOGGER.info("%s: playback device is back (reopened after %d failed tries)", self.name, self._failures)

    def _close_stream(self) -> None:
        stream, self._stream = self._stream, None
        if stream is None:
            return
        for step in ("stop", "close"):
            try:
                getattr(stream, step)()
            except Exception as err:  # noqa: BLE001 - a lost device often fails to stop cleanly (logged)
                _LOGGER.debug("%s: %s of the lost stream failed: %s", self.name, step, err)

    def close(self) -> None:
        self._closing.set()
        super().close()
        if self._watcher is not None:
            self._watcher.join(timeout=2.0)
        self._close_stream()
