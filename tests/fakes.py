"""Small fakes driven by content, for orchestration tests only (never for engine tests)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from appliance.audio.sink import PacedSink
from appliance.control.api import TurnResult
from appliance.engines.llm.protocol import GenerationStats, LanguageModel
from appliance.engines.stt import SttResult
from appliance.engines.wake import Detection
from appliance.settings import LlmSettings, Settings
from appliance.voice.messages import (
    CaptureEnded,
    CaptureTimedOut,
    FrontEndMessage,
    SpeechBegan,
    SpeechPaused,
    SpeechResumed,
    WakeHeard,
)

if TYPE_CHECKING:
    from appliance.engines.loader import Engines
    from appliance.models.registry import ModelRegistry
    from appliance.runtime.app import Appliance


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


class FakeLlm(LanguageModel):
    """Streams a fixed reply word by word, honouring cancellation; prefills and scores nothing."""

    name = "fake-llm"

    def __init__(self, reply: str = "It is noon. Have a nice day.", delay: float = 0.01) -> None:
        self.reply = reply
        self.delay = delay
        self.settings = LlmSettings()
        self.last = GenerationStats()
        self.requests: list[list[dict[str, str]]] = []
        self.prefills: list[list[dict[str, str]]] = []
        self.cancelled = False

    def stream(self, messages, cancel: threading.Event, *, max_tokens=None, may_run=None) -> Iterator[str]:
        self.requests.append(messages)
        return self._words(cancel)

    def prefill(self, messages, cancel=None, user_start: str = "") -> int:
        self.prefills.append(messages)
        return 0

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def score_continuations(self, messages, continuations: list[str]) -> list[float]:
        return [0.0] * len(continuations)

    def _words(self, cancel: threading.Event) -> Iterator[str]:
        for i, word in enumerate(self.reply.split(" ")):
            if cancel.is_set():
                self.cancelled = True
                return
            time.sleep(self.delay)
            yield word if i == 0 else " " + word

    async def stream_reply(self, messages, cancel: threading.Event, may_run=None) -> AsyncIterator[str]:
        from appliance.core.workers import iterate_in_thread

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


class FakeTurnModel:
    """A turn model that answers scripted probabilities in turn (the last one repeats); None = fail."""

    def __init__(self, *answers: float | None) -> None:
        self.answers = list(answers) or [0.9]
        self.heard: list[int] = []
        """Samples of audio each question came with."""

    def completion(self, audio: np.ndarray) -> float:
        self.heard.append(len(audio))
        answer = self.answers[min(len(self.heard), len(self.answers)) - 1]
        if answer is None:
            raise RuntimeError("scripted failure")
        return answer


class FakeFrontEnd:
    def __init__(self) -> None:
        self.muted = False
        self.capture_id = 0
        self.cancelled = 0
        self.confirmed: list[int] = []

    def confirm_end(self, capture_id: int) -> None:
        self.confirmed.append(capture_id)

    def request_capture(self, *, after_wake: bool = False) -> int:
        self.capture_id += 1
        return self.capture_id

    def cancel_capture(self, capture_id: int | None = None) -> None:
        self.cancelled += 1


def _audio(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * 16000), dtype=np.int16)


def wake(capture_id: int = 1, *, at_s: float = 1.0, model: str = "hey_jarvis") -> WakeHeard:
    return WakeHeard(at_s, time.monotonic(), capture_id, Detection(model, 0.9, at_s))


def began(capture_id: int = 1, *, at_s: float = 1.0) -> SpeechBegan:
    return SpeechBegan(at_s, time.monotonic(), capture_id)


def paused(capture_id: int = 1, *, at_s: float = 1.0, audio_s: float = 1.0) -> SpeechPaused:
    return SpeechPaused(at_s, time.monotonic(), capture_id, _audio(audio_s), at_s - 0.3)


def resumed(capture_id: int = 1, *, at_s: float = 1.0) -> SpeechResumed:
    return SpeechResumed(at_s, time.monotonic(), capture_id)


def ended(
    capture_id: int = 1,
    *,
    at_s: float = 1.0,
    audio_s: float = 1.0,
    semantic: bool = False,
    turn_probability: float | None = None,
    provisional: bool = False,
) -> CaptureEnded:
    return CaptureEnded(
        at_s,
        time.monotonic(),
        capture_id,
        _audio(audio_s),
        at_s - 0.3,
        semantic=semantic,
        turn_probability=turn_probability,
        provisional=provisional,
    )


def timed_out(capture_id: int = 1, *, at_s: float = 1.0) -> CaptureTimedOut:
    return CaptureTimedOut(at_s, time.monotonic(), capture_id)


class FakeControl:
    """A typed stand-in for the running appliance's ControlApi (command-layer and GPIO tests)."""

    def __init__(self, reply: str = "Paris.") -> None:
        self.reply = reply
        self.muted = False
        self.volume = 50
        self.wake_words: tuple[str, ...] = ("hey_jarvis",)
        self.available_wake_words: tuple[str, ...] = ("hey_jarvis", "alexa", "hey_mycroft")
        self.threshold = 0.5
        self.restarts = 0
        self.listens = 0
        self.stops = 0
        self.asked: list[str] = []
        self.said: list[str] = []

    def set_muted(self, muted: bool) -> None:
        self.muted = muted

    def set_volume(self, level: int) -> None:
        self.volume = level

    async def set_wake_words(self, names: tuple[str, ...]) -> None:
        self.wake_words = tuple(names)

    @property
    def sensitivity(self) -> float:
        return round(1 - self.threshold, 3)

    def set_sensitivity(self, value: float) -> None:
        self.threshold = round(1 - value, 3)

    async def say(self, text: str) -> TurnResult:
        self.said.append(text)
        return TurnResult(len(self.said), "answered", reply=text)

    async def ask(self, text: str, *, speak: bool = True) -> TurnResult:
        self.asked.append(text)
        return TurnResult(len(self.asked), "answered", transcript=text, reply=self.reply)

    async def listen(self, *, source: str = "listen") -> int:
        self.listens += 1
        return self.listens

    async def stop(self) -> bool:
        self.stops += 1
        return True

    async def reload(self) -> dict:
        return {"applied": [], "needs_restart": []}

    def request_restart(self) -> None:
        self.restarts += 1

    def status(self) -> dict:
        return {"muted": self.muted, "volume": self.volume}


async def until(predicate, timeout: float = 10.0, what: str = "condition") -> None:
    """Wait for a milestone (polling ``predicate`` on the loop), failing after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout} s")
        await asyncio.sleep(0.01)


def post_all(pipeline, *messages: FrontEndMessage) -> None:
    """Hand messages to a running pipeline's inbox, as the audio thread would."""
    for msg in messages:
        pipeline.post(msg)


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


def engines_with_fakes(registry, llm=None):
    """The real wake word and VAD (the front end runs for real) with fake STT, LLM (unless given) and TTS."""
    from appliance.engines.loader import Engines
    from appliance.engines.vad import load_detector as load_speech_detector
    from appliance.engines.wake import load_detector as load_wake_detector
    from appliance.settings import VadSettings, WakeSettings

    return Engines(
        wake=load_wake_detector(WakeSettings(), registry.resolve),
        speech=load_speech_detector(VadSettings(), registry.resolve),
        stt=FakeStt(),
        llm=llm if llm is not None else FakeLlm(),
        tts=FakeTts(),
        load_s={},
    )


def quiet_appliance(settings: Settings, engines: Engines, registry: ModelRegistry, **options: Any) -> Appliance:
    """An in-process appliance hearing a quiet room (a second of silence, repeated), playing to nowhere,
    without a control socket; ``options`` go to :class:`~appliance.runtime.app.Appliance`."""
    from appliance.audio.sink import NullSink
    from appliance.audio.source import ArraySource
    from appliance.runtime.app import Appliance

    quiet = np.zeros(16000, dtype=np.int16)
    return Appliance(
        settings,
        engines,
        registry=registry,
        source_factory=lambda: ArraySource(quiet, realtime=True, tail_s=None),
        sink=NullSink(),
        control=False,
        **options,
    )


async def started(app: Appliance, timeout: float = 30.0) -> asyncio.Task:
    """Run ``app`` on a task and wait until it says it is ready."""
    ready = asyncio.Event()
    task = asyncio.create_task(app.run(on_ready=ready.set))
    await asyncio.wait_for(ready.wait(), timeout)
    return task


def sse_chunk(text: str | None = None, finish: str | None = None) -> str:
    """One chat.completion.chunk event: a content delta, the role delta (no text), or a finish."""
    import json

    delta = {"content": text} if text is not None else {"role": "assistant"}
    return "data: " + json.dumps({"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}) + "\n\n"


def sse_reply(*texts: str, done: bool = True) -> str:
    """A whole streamed reply: role, the texts, finish, [DONE]."""
    body = sse_chunk() + "".join(sse_chunk(t) for t in texts) + sse_chunk(finish="stop")
    return body + ("data: [DONE]\n\n" if done else "")


class ScriptedLlmServer:
    """An OpenAI-style HTTP server on a free local port; ``respond`` scripts its answer (orchestration tests only).

    Use as a context manager; ``url`` is its ``/v1`` base, ``requests`` what it was sent.
    """

    def __init__(self) -> None:
        self.respond = lambda handler: self.send(handler, 200, sse_reply("Hi."))
        self.requests: list[dict] = []
        self.release = threading.Event()
        """Set to let a server that holds back go on (it is set when the server stops)."""
        self._server = None

    @staticmethod
    def send(handler, status: int, body: str, ctype: str = "text/event-stream") -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", ctype)
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.wfile.write(body.encode())
        handler.wfile.flush()

    def __enter__(self) -> ScriptedLlmServer:
        import json
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        script = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                auth = self.headers.get("Authorization")
                script.requests.append({"path": self.path, "auth": auth, "body": json.loads(self.rfile.read(length))})
                script.respond(self)

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __exit__(self, *exc) -> None:
        self.release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


class FakeMqtt:
    """The MQTT feature's shared-topic side (rooms), recording what goes out; on a :class:`FakeBroker`,
    what one member publishes reaches every connected member (itself too), on the next loop turn."""

    def __init__(self, connected: bool = True, broker: FakeBroker | None = None) -> None:
        self.connected = connected
        self.sent: list[tuple[str, dict]] = []
        self.handlers: dict[str, object] = {}
        self.broker = broker
        if broker is not None:
            broker.members.append(self)

    def listen(self, topic: str, handler) -> None:
        self.handlers[topic] = handler

    def publish_shared(self, topic: str, payload: bytes) -> bool:
        import json

        self.sent.append((topic, json.loads(payload)))
        if self.connected and self.broker is not None:
            self.broker.route(topic, payload)
        return self.connected

    def deliver(self, topic: str, payload, received: float | None = None) -> None:
        """A message on ``topic`` arrives now (or at monotonic ``received``)."""
        import json

        from appliance.integrations.mqtt.client import Inbound

        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.handlers[topic](Inbound(topic, data, False, time.monotonic() if received is None else received))


class FakeBroker:
    """Routes FakeMqtt publications to every connected member listening on the topic; ``drop`` loses them."""

    def __init__(self) -> None:
        self.members: list[FakeMqtt] = []
        self.drop: set[str] = set()
        """Topics whose messages are lost on the way."""

    def route(self, topic: str, payload: bytes) -> None:
        if topic in self.drop:
            return
        loop = asyncio.get_running_loop()
        for member in self.members:
            if member.connected and topic in member.handlers:
                loop.call_soon(member.deliver, topic, payload)
