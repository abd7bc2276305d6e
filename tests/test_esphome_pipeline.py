"""``esphome.pipeline = home_assistant``: a request heard after the local wake word is answered by Home
Assistant's pipeline, played by aioesphomeapi's real client in Home Assistant's place (its satellite side)."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from aioesphomeapi import VoiceAssistantEventType

from appliance.audio import FRAME_SAMPLES
from appliance.audio.source import ArraySource
from appliance.runtime.app import Appliance
from appliance.settings import settings_from_dict

from .conftest import conversation
from .esphome_support import TIMEOUT_S, client, until
from .test_esphome_satellite import TappedSink, http_serving, wav_bytes

pytestmark = pytest.mark.integration

E = VoiceAssistantEventType
HA_PIPELINE = {"pipeline": "home_assistant"}


class CuedSource(ArraySource):
    """A microphone in a quiet room: silence, and what :meth:`say` is given, in real time."""

    def __init__(self) -> None:
        super().__init__(np.zeros(FRAME_SAMPLES, dtype=np.int16), realtime=True, tail_s=None)
        self._pending: collections.deque[np.ndarray] = collections.deque()
        self._lock = threading.Lock()

    def say(self, audio: np.ndarray) -> None:
        frames = [audio[i : i + FRAME_SAMPLES] for i in range(0, len(audio), FRAME_SAMPLES)]
        with self._lock:
            self._pending.extend(frames)

    def read_into(self, out: np.ndarray, timeout: float) -> bool:
        if not super().read_into(out, timeout):  # paced silence
            return False
        with self._lock:
            if self._pending:
                frame = self._pending.popleft()
                out[: len(frame)] = frame
        return True


@contextlib.asynccontextmanager
async def hearing(
    tmp_path: Path, engines: Any, registry: Any, source: CuedSource, sink: TappedSink, **sections: Any
) -> AsyncIterator[tuple[Appliance, Any]]:
    """The appliance hearing ``source``, with ``[esphome]`` on a free port (``sections``: more settings)."""
    esphome = {"enabled": True, "port": 0, "announce": False, **sections.pop("esphome", {})}
    settings = settings_from_dict(
        {
            "device": {"id": "test-satellite"},
            "paths": {"state_dir": str(tmp_path / "state"), "runtime_dir": str(tmp_path / "run")},
            "memory": {"enabled": False},
            "esphome": esphome,
            **sections,
        }
    )
    app = Appliance(settings, engines, registry=registry, sink=sink, control=False, source_factory=lambda: source)
    ready = asyncio.Event()
    runner = asyncio.create_task(app.run(on_ready=ready.set))
    try:
        await asyncio.wait_for(ready.wait(), 60)
        yield app, next(f for f in app.features if f.name == "esphome")
    finally:
        app.stop()
        await runner


class HomeAssistantSide:
    """What Home Assistant's ESPHome satellite does with a device's request: take its audio, answer by events."""

    def __init__(self, api: Any, answer_url: str, events: list[tuple[Any, dict[str, str]]] | None = None) -> None:
        self.api = api
        self.answer_url = answer_url
        self.events = events
        self.audio = bytearray()
        self.started: list[tuple[int, str | None]] = []
        self.ended = asyncio.Event()

    async def start(self, conversation_id: str, flags: int, settings: Any, phrase: str | None) -> int:
        self.started.append((flags, phrase))
        return 0  # audio over the API connection

    async def audio_in(self, data: bytes) -> None:
        self.audio.extend(data)

    async def stop(self, abort: bool) -> None:
        assert not abort
        self.ended.set()
        send = self.api.send_voice_assistant_event
        for kind, data in self.events or (
            (E.VOICE_ASSISTANT_RUN_START, {}),
            (E.VOICE_ASSISTANT_STT_START, {}),
            (E.VOICE_ASSISTANT_STT_END, {"text": "What time is it?"}),
            (E.VOICE_ASSISTANT_INTENT_START, {}),
            (E.VOICE_ASSISTANT_INTENT_END, {"conversation_id": "c1", "continue_conversation": "0"}),
            (E.VOICE_ASSISTANT_TTS_START, {"text": "It is noon, says Home Assistant."}),
            (E.VOICE_ASSISTANT_TTS_END, {"url": self.answer_url}),
            (E.VOICE_ASSISTANT_RUN_END, {}),
        ):
            send(kind, data)


async def test_a_request_after_the_local_wake_word_is_answered_by_home_assistant(
    tmp_path: Path, engines, registry, speak
):
    audio, _, _ = conversation(speak, speak("What time is it?"))
    answer = engines.tts.synthesize_all("It is noon, says Home Assistant.")
    sink, source = TappedSink(), CuedSource()
    with http_serving({"/answer.wav": wav_bytes(answer, engines.tts.sample_rate)}) as base:
        async with hearing(tmp_path, engines, registry, source, sink, esphome=HA_PIPELINE) as (app, feature):
            async with client(feature.port) as api:
                ha = HomeAssistantSide(api, f"{base}/answer.wav")
                api.subscribe_voice_assistant(handle_start=ha.start, handle_stop=ha.stop, handle_audio=ha.audio_in)
                await until(lambda: feature.satellite.voice_peers, what="the voice subscription")
                source.say(audio)
                await asyncio.wait_for(ha.ended.wait(), TIMEOUT_S)
                ended = time.monotonic()
                await until(lambda: any(r.intent == "home_assistant" for r in app.pipeline.history), what="the turn")
            record = next(r for r in app.pipeline.history if r.intent == "home_assistant")
            assert record.transcript == "What time is it?" and record.reply.startswith("It is noon")
            assert ha.started == [(0, "hey jarvis")]
            request_s = len(ha.audio) / 2 / 16000
            assert 0.8 < request_s < 6.0, request_s  # the request itself, not the wake word's stretch of silence
            first = sink.first_after(ended)
            assert first is not None
            print(f"\nHA's answer: audio end -> first sample {(first - ended) * 1000:.0f} ms")
            assert feature.status()["relayed"] == 1 and feature.status()["turns_reported"] == 0


async def test_without_home_assistant_the_appliance_answers_itself(tmp_path: Path, engines, registry, speak):
    audio, _, _ = conversation(speak, speak("What time is it?"))
    sink, source = TappedSink(), CuedSource()
    async with hearing(tmp_path, engines, registry, source, sink, esphome=HA_PIPELINE) as (app, feature):
        source.say(audio)
        await until(lambda: app.pipeline.history, timeout_s=60, what="the turn")
        record = app.pipeline.history[-1]
        assert record.intent != "home_assistant" and "time" in record.transcript.lower()
        assert record.outcome == "answered"
        assert feature.status()["relayed"] == 0
        assert record.first_audio_mono is not None and record.speech_end_mono is not None
        took_ms = (record.first_audio_mono - record.speech_end_mono) * 1000
        print(f"\nanswered here: end of speech -> reply playing {took_ms:.0f} ms")


FAILED_BEFORE_ACTING = [
    (E.VOICE_ASSISTANT_RUN_START, {}),
    (E.VOICE_ASSISTANT_ERROR, {"code": "stt-no-text-recognized", "message": "No text recognized"}),
    (E.VOICE_ASSISTANT_RUN_END, {}),
]
ACTED_WITHOUT_SPEECH = [
    (E.VOICE_ASSISTANT_STT_END, {"text": "What time is it?"}),
    (E.VOICE_ASSISTANT_INTENT_END, {"conversation_id": "c1", "continue_conversation": "0"}),
    (E.VOICE_ASSISTANT_TTS_START, {"text": "Noon, in the appliance's own voice."}),
    (E.VOICE_ASSISTANT_ERROR, {"code": "tts-failed", "message": "no voice"}),
    (E.VOICE_ASSISTANT_RUN_END, {}),
]


@pytest.mark.parametrize(("events", "answered_by"), [(FAILED_BEFORE_ACTING, "here"), (ACTED_WITHOUT_SPEECH, "ha")])
async def test_who_answers_when_home_assistant_fails(tmp_path: Path, engines, registry, speak, events, answered_by):
    audio, _, _ = conversation(speak, speak("What time is it?"))
    sink, source = TappedSink(), CuedSource()
    async with hearing(tmp_path, engines, registry, source, sink, esphome=HA_PIPELINE) as (app, feature):
        async with client(feature.port) as api:
            ha = HomeAssistantSide(api, "", events)
            api.subscribe_voice_assistant(handle_start=ha.start, handle_stop=ha.stop, handle_audio=ha.audio_in)
            await until(lambda: feature.satellite.voice_peers, what="the voice subscription")
            source.say(audio)
            await until(lambda: app.pipeline.history, timeout_s=60, what="the turn")
        record = app.pipeline.history[-1]
        assert record.outcome == "answered" and len(app.pipeline.history) == 1
        assert feature.status()["relayed"] == 1
        if answered_by == "here":  # HA never acted: the appliance's own transcript and reply
            assert record.intent != "home_assistant" and "time" in record.transcript.lower()
        else:  # HA acted: its words, in the appliance's voice; nothing answered twice
            assert record.intent == "home_assistant" and record.reply.startswith("Noon")
        assert sink.audible
