"""Audio sources: microphone (PortAudio), WAV file, raw PCM stream (stdin or pipe).

Every source delivers 16 kHz mono int16 frames of ``FRAME_SAMPLES`` through
``read_into(out, timeout)``, called from the front end's worker thread.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import numpy as np

from appliance.audio import (
    FRAME_BYTES,
    FRAME_SAMPLES,
    FRAME_SECONDS,
    SAMPLE_RATE,
)
from appliance.audio.buffer import FrameRing, StreamResampler
from appliance.audio.wav import read_wav
from appliance.core.errors import AudioError

_LOGGER = logging.getLogger(__name__)


class AudioSource(Protocol):
    """What the front end reads frames from."""

    name: str
    realtime: bool
    """True when frames arrive at the speed they were spoken (a mic, a paced file)."""

    def open(self) -> None: ...

    def read_into(self, out: np.ndarray, timeout: float) -> bool:
        """Fill ``out`` with the next frame; False on timeout; EOFError at the end."""
        ...

    def close(self) -> None: ...


def find_device(spec: str, *, kind: str) -> int | None:
    """PortAudio device index for 'default', an index, or a name substring."""
    import sounddevice as sd

    if spec in ("", "default"):
        return None
    if spec.isdigit():
        return int(spec)
    channels_key = "max_input_channels" if kind == "input" else "max_output_channels"
    for index, device in enumerate(sd.query_devices()):
        if spec.lower() in device["name"].lower() and device[channels_key] > 0:
            return index
    raise AudioError("audio-device-missing", f"no {kind} device matches {spec!r} (see: appliance doctor)")


def _has_default_input(sd: Any) -> bool:
    try:
        sd.query_devices(kind="input")
        return True
    except Exception:  # noqa: BLE001 - PortAudio's "Error querying device -1" means none
        return False


class MicSource:
    """Capture through PortAudio; the callback only copies into a preallocated ring."""

    realtime = True

    def __init__(self, device: str = "default", *, capture_rate: int = 0, queue_frames: int = 64) -> None:
        self.name = f"mic:{device}"
        self._device_spec = device
        self._capture_rate = capture_rate
        self._queue_frames = queue_frames
        self._stream: Any = None
        self._ring: FrameRing | None = None
        self._resampler: StreamResampler | None = None
        self._block = np.zeros(FRAME_SAMPLES, dtype=np.int16)
        self._pending = np.zeros(0, dtype=np.int16)
        self.status_flags = 0

    @property
    def dropped(self) -> int:
        return self._ring.dropped if self._ring else 0

    def open(self) -> None:
        try:
            import sounddevice as sd
        except OSError as err:  # libportaudio2 missing
            raise AudioError("portaudio-missing", f"PortAudio is not installed ({err}); run scripts/setup") from err
        try:
            device = find_device(self._device_spec, kind="input")
            if device is None and not _has_default_input(sd):
                raise AudioError(
                    "capture-unavailable", "no microphone found (PortAudio lists no input device; see appliance doctor)"
                )
            rate = self._pick_rate(sd, device)
            block = round(FRAME_SECONDS * rate)
            self._ring = FrameRing(self._queue_frames, block)
            if rate != SAMPLE_RATE:
                self._resampler = StreamResampler(rate, SAMPLE_RATE)
                _LOGGER.info("Capturing at %d Hz, resampling to %d Hz", rate, SAMPLE_RATE)
            self._stream = sd.InputStream(
                samplerate=rate, channels=1, dtype="int16", blocksize=block, device=device, callback=self._callback
            )
            self._stream.start()
        except AudioError:
            raise
        except Exception as err:
            self.close()
            raise AudioError("capture-unavailable", f"cannot open capture device {self._device_spec!r}: {err}") from err
        _LOGGER.info("Capture open on %s at %d Hz", self._device_spec, rate)

    def _pick_rate(self, sd: object, device: int | None) -> int:
        if self._capture_rate:
            return self._capture_rate
        try:
            sd.check_input_settings(device=device, samplerate=SAMPLE_RATE, channels=1, dtype="int16")  # type: ignore[attr-defined]
            return SAMPLE_RATE
        except Exception:  # noqa: BLE001 - fall back to what the device offers
            info = sd.query_devices(device, "input")  # type: ignore[attr-defined]
            return int(info["default_samplerate"])

    def _callback(self, indata: np.ndarray, frames: int, time_info: object, status: object) -> None:
        # Runs on PortAudio's thread: copy and return, nothing else.
        if status:
            self.status_flags += 1
        assert self._ring is not None
        self._ring.write(indata[:, 0])

    def read_into(self, out: np.ndarray, timeout: float) -> bool:
        if self._ring is None:
            raise AudioError("capture-closed", "capture is not open")
        if self._resampler is None:
            return self._ring.read_into(out, timeout)
        while len(self._pending) < FRAME_SAMPLES:
            block = np.zeros(self._ring._frames.shape[1], dtype=np.int16)
            if not self._ring.read_into(block, timeout):
                return False
            self._pending = np.concatenate((self._pending, self._resampler.process(block)))
        out[:] = self._pending[:FRAME_SAMPLES]
        self._pending = self._pending[FRAME_SAMPLES:]
        return True

    def close(self) -> None:
        if self._stream is not None:
            try:
                self._stream.stop()
                self._stream.close()
            except Exception as err:  # noqa: BLE001 - closing a dead device must not raise
                _LOGGER.debug("Closing capture: %s", err)
            self._stream = None


class ArraySource:
    """Frames from samples in memory (a WAV file), optionally paced like a microphone.

    After the samples run out it yields ``tail_s`` of silence, then raises
    EOFError; with ``tail_s=None`` it yields silence until closed.
    """

    def __init__(
        self, samples: np.ndarray, *, name: str = "array", realtime: bool = True, tail_s: float | None = 2.0
    ) -> None:
        self.name = name
        self.realtime = realtime
        self._samples = samples
        self._tail = None if tail_s is None else int(tail_s * SAMPLE_RATE)
        self._pos = 0
        self._start = 0.0
        self._paced_from: float | None = None
        self.eof_reached = False

    @property
    def duration_s(self) -> float:
        return len(self._samples) / SAMPLE_RATE

    @property
    def position_s(self) -> float:
        """Audio-timeline seconds delivered so far."""
        return self._pos / SAMPLE_RATE

    def open(self) -> None:
        self._start = time.monotonic()

    def wall_time_of(self, at_s: float) -> float:
        """Monotonic clock time at which the audio at ``at_s`` was delivered (paced sources)."""
        return self._start + at_s

    def read_into(self, out: np.ndarray, timeout: float) -> bool:
        if self._tail is not None and self._pos >= len(self._samples) + self._tail:
            raise EOFError
        if self.realtime or self.eof_reached:  # trailing silence is always paced
            if not self.realtime and self._paced_from is None:
                self._paced_from = time.monotonic() - self._pos / SAMPLE_RATE
            start = self._start if self.realtime or self._paced_from is None else self._paced_from
            due = start + (self._pos + FRAME_SAMPLES) / SAMPLE_RATE
            delay = due - time.monotonic()
            if delay > timeout:
                time.sleep(timeout)
                return False
            if delay > 0:
                time.sleep(delay)
        chunk = self._samples[self._pos : self._pos + FRAME_SAMPLES]
        out[: len(chunk)] = chunk
        out[len(chunk) :] = 0
        self._pos += FRAME_SAMPLES
        if self._pos >= len(self._samples):
            self.eof_reached = True
        return True

    def close(self) -> None:
        pass


def wav_source(path: Path | str, *, realtime: bool = True, tail_s: float | None = 2.0) -> ArraySource:
    """A WAV file as a microphone (resampled to 16 kHz when needed)."""
    return ArraySource(read_wav(path), name=f"wav:{path}", realtime=realtime, tail_s=tail_s)


class PcmStreamSource:
    """Raw 16 kHz mono s16le PCM from a binary stream (``-`` = stdin), paced by its writer."""

    realtime = True

    def __init__(self, stream: BinaryIO | None = None, name: str = "stdin") -> None:
        self.name = name
        self._stream = stream
        self._buf = bytearray(FRAME_BYTES)

    def open(self) -> None:
        if self._stream is None:
            self._stream = sys.stdin.buffer

    def read_into(self, out: np.ndarray, timeout: float) -> bool:
        assert self._stream is not None
        view = memoryview(self._buf)
        got = 0
        while got < FRAME_BYTES:
            n = self._stream.readinto(view[got:])  # type: ignore[attr-defined]
            if not n:
                raise EOFError
            got += n
        out[:] = np.frombuffer(self._buf, dtype="<i2")
        return True

    def close(self) -> None:
        pass
