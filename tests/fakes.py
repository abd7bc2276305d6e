"""Small fakes driven by content, for orchestration tests only (never for engine tests)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator

import numpy as np

from appliance.audio.sink import PacedSink
from appliance.frontend import FrontEndEvent
from appliance.stt import SttResult
from appliance.wake import Detection


class FakeStt:
    name = "fake-stt"
    supports_speculation = True

    def __init__(self, text: str = "what time is it", delay: float = 0.05) -> None:
        self.text = text
        self.delay = delay
        self.calls: list[int] = []

    def transcribe(self, samples: np.ndarray) -> SttResult:
        self.calls.append(len(samples))
        time.sleep(self.delay)
        return SttResult(self.text, audio_s=len(samples) / 16000, seconds=self.delay)

    def session(self, on_partial=None):
        raise NotImplementedError

    def warm_up(self) -> None:
        pass


class FakeLlm:
    """Streams a fixed reply word by word, honouring cancellation."""

    def __init__(self, reply: str = "It is noon. Have a nice day.", delay: float = 0.01) -> None:
        self.reply = reply
        self.delay = delay
        self.requests: list[list[dict[str, str]]] = []
        self.cancelled = False

    def _words(self, cancel: threading.Event) -> Iterator[str]:
        for i, word in enumerate(self.reply.split(" ")):
            if cancel.is_set():
                self.cancelled = True
                return
            time.sleep(self.delay)
            yield word if i == 0 else " " + word

    async def stream_reply(self, messages, cancel: threading.Event, may_run=None) -> AsyncIterator[str]:
        from appliance.workers import iterate_in_thread

        self.requests.append(messages)
        async for piece in iterate_in_thread(lambda: self._words(cancel), cancel):
            yield piece


class FakeTts:
    """A 440 Hz tone, 60 ms per character."""

    sample_rate = 16000

    def __init__(self) -> None:
        self.spoken: list[str] = []

    def synthesize_all(self, text: str) -> np.ndarray:
        self.spoken.append(text)
        n = int(0.06 * len(text) * self.sample_rate)
        return (np.sin(np.arange(n) * 2 * np.pi * 440 / self.sample_rate) * 8000).astype(np.int16)


class RecordingSink(PacedSink):
    """Plays in real time into a list (so barge-in has something to interrupt)."""

    name = "recording"

    def __init__(self, realtime: bool = True) -> None:
        super().__init__(realtime=realtime)
        self.played: list[np.ndarray] = []
        self.stops = 0

    def _emit(self, samples: np.ndarray) -> None:
        self.played.append(samples.copy())

    def stop(self) -> None:
        self.stops += 1
        super().stop()


class FakeFrontEnd:
    def __init__(self) -> None:
        self.during_reply = False
        self.stream_capture = False
        self.muted = False
        self.capture_id = 0
        self.cancelled = 0

    def request_capture(self, *, after_wake: bool = False) -> int:
        self.capture_id += 1
        return self.capture_id

    def cancel_capture(self, capture_id: int | None = None) -> None:
        self.cancelled += 1


def fe_event(
    kind: str, capture_id: int = 1, *, at_s: float = 1.0, audio_s: float = 1.0, model: str = "hey_jarvis"
) -> FrontEndEvent:
    audio = np.zeros(int(audio_s * 16000), dtype=np.int16) if kind in ("speculate", "ended", "max_length") else None
    detection = Detection(model, 0.9, at_s) if kind == "wake" else None
    return FrontEndEvent(
        kind, at_s, time.monotonic(), capture_id, detection=detection, audio=audio, speech_end_s=at_s - 0.3
    )


async def wait_for(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


class FakeOutputStream:
    """A sounddevice.OutputStream stand-in: a thread calls the callback every block until ``fail()``."""

    def __init__(self, rate: int, callback, block_s: float = 0.02) -> None:
        self.rate = rate
        self._callback = callback
        self._block = np.zeros((int(rate * block_s), 1), dtype=np.int16)
        self._block_s = block_s
        self._running = threading.Event()
        self.played: list = []
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def active(self) -> bool:
        return self._running.is_set()

    def start(self) -> None:
        self._running.set()
        self._thread.start()

    def _run(self) -> None:
        while self._running.is_set():
            self._callback(self._block, len(self._block), None, None)
            self.played.append(self._block[:, 0].copy())
            time.sleep(self._block_s / 4)  # faster than real time: the tests need not wait

    def fail(self) -> None:
        """The device goes away: the callback stops and the stream is no longer active."""
        self._running.clear()

    def stop(self) -> None:
        if not self._running.is_set():
            raise RuntimeError("PortAudioError: Stream is stopped (device unplugged)")
        self._running.clear()

    def close(self) -> None:
        pass


class FlakyOutputDevice:
    """A stream factory for SpeakerSink whose opens fail while ``gone`` is set."""

    def __init__(self) -> None:
        self.gone = False
        self.opens = 0
        self.failed_opens = 0
        self.streams: list[FakeOutputStream] = []

    def __call__(self, rate: int, callback) -> tuple[FakeOutputStream, int]:
        if self.gone:
            self.failed_opens += 1
            raise OSError("PortAudioError: Device unavailable [PaErrorCode -9985]")
        self.opens += 1
        stream = FakeOutputStream(rate, callback)
        stream.start()
        self.streams.append(stream)
        return stream, rate
