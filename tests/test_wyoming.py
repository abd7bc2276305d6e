"""The Wyoming port on the real engines, spoken to with the ``wyoming`` package's own client."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import numpy as np
import pytest
from wyoming.asr import Transcribe, Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.handle import Handled
from wyoming.info import Describe, Info
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop
from wyoming.wake import Detect, Detection

from appliance.audio import SAMPLE_RATE

from .conftest import silence
from .wyoming_support import TIMEOUT_S, client, read_until, serving

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

CHUNK = 1024
"""Samples per audio-chunk the test client sends (HA's satellites send 1024)."""


def words(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9' ]", " ", text.lower()).split()


async def send_audio(tcp, audio: np.ndarray, rate: int) -> None:
    await tcp.write_event(AudioStart(rate=rate, width=2, channels=1).event())
    for start in range(0, len(audio), CHUNK):
        piece = audio[start : start + CHUNK].astype("<i2").tobytes()
        await tcp.write_event(AudioChunk(rate=rate, width=2, channels=1, audio=piece).event())
    await tcp.write_event(AudioStop().event())


async def transcribe(tcp, audio: np.ndarray, rate: int) -> tuple[list[str], str]:
    await tcp.write_event(Transcribe(language="en").event())
    await send_audio(tcp, audio, rate)
    before, event = await read_until(tcp, "transcript")
    _, stop = await read_until(tcp, "transcript-stop")
    return [e.type for e in before] + ["transcript", stop.type], Transcript.from_event(event).text


async def received_audio(tcp) -> tuple[np.ndarray, int, list[str]]:
    """Audio from audio-start to audio-stop: (int16 samples, rate, the event types in order)."""
    _, start = await read_until(tcp, "audio-start")
    rate, chunks, types = int(start.data["rate"]), [], ["audio-start"]
    while True:
        event = await asyncio.wait_for(tcp.read_event(), TIMEOUT_S)
        assert event is not None
        types.append(event.type)
        if event.type == "audio-stop":
            return np.frombuffer(b"".join(chunks), dtype="<i2"), rate, types
        assert event.type == "audio-chunk" and int(event.data["rate"]) == rate
        chunks.append(event.payload or b"")


async def test_describe_lists_the_appliances_own_engines(tmp_path: Path, engines, registry):
    async with serving(tmp_path, engines, registry) as (_app, feature), client(feature.port) as tcp:
        await tcp.write_event(Describe().event())
        _, event = await read_until(tcp, "info")
    info = Info.from_event(event)
    assert [m.name for m in info.asr[0].models] == ["whisper-base"] and info.asr[0].models[0].languages == ["en"]
    assert info.asr[0].supports_transcript_streaming
    assert [v.name for v in info.tts[0].voices] == ["en_US-joe-medium"] and info.tts[0].voices[0].languages == ["en_US"]
    assert info.tts[0].supports_synthesize_streaming
    assert [m.name for m in info.wake[0].models] == ["hey_jarvis"] and info.wake[0].models[0].phrase == "hey jarvis"
    assert info.handle[0].models[0].languages == ["en"]


async def test_a_piper_recording_at_22_khz_is_transcribed_to_its_words(tmp_path: Path, engines, registry, voice):
    request = "What is the weather like in Paris tomorrow?"
    audio = voice.synthesize_all(request)  # 22 050 Hz: the server resamples it for Whisper
    async with serving(tmp_path, engines, registry) as (app, feature), client(feature.port) as tcp:
        types, text = await transcribe(tcp, audio, voice.sample_rate)
        status = app.status()["wyoming"]
    assert words(text) == words(request), text
    assert types[0] == "transcript-start" and types[-2:] == ["transcript", "transcript-stop"]
    assert status["requests"]["asr"] == 1 and status["closed_for"] == {}


async def test_real_speech_in_stereo_at_48_khz_is_transcribed(tmp_path: Path, engines, registry, recording):
    import soxr

    mono = recording("beckett")[: 8 * SAMPLE_RATE]
    local = engines.stt.transcribe(mono).text
    high = soxr.resample(mono, SAMPLE_RATE, 48_000).astype(np.int16)
    stereo = np.repeat(high, 2)  # interleaved L R
    async with serving(tmp_path, engines, registry) as (_app, feature), client(feature.port) as tcp:
        await tcp.write_event(Transcribe().event())
        await tcp.write_event(AudioStart(rate=48_000, width=2, channels=2).event())
        for start in range(0, len(stereo), 2 * CHUNK):
            piece = stereo[start : start + 2 * CHUNK].astype("<i2").tobytes()
            await tcp.write_event(AudioChunk(rate=48_000, width=2, channels=2, audio=piece).event())
        await tcp.write_event(AudioStop().event())
        _, event = await read_until(tcp, "transcript")
    served = Transcript.from_event(event).text
    same = set(words(served)) & set(words(local))
    assert len(same) >= 0.8 * len(set(words(local))), (served, local)


async def test_synthesize_gives_the_voice_and_it_transcribes_back(tmp_path: Path, engines, registry):
    text = "The kitchen light is on. The front door is locked."
    async with serving(tmp_path, engines, registry) as (app, feature), client(feature.port) as tcp:
        await tcp.write_event(Synthesize(text=text).event())
        audio, rate, types = await received_audio(tcp)
        _, heard = await transcribe(tcp, audio, rate)
        status = app.status()["wyoming"]
    assert rate == engines.tts.sample_rate and len(audio) / rate > 1.5
    assert types[0] == "audio-start" and types[-1] == "audio-stop" and set(types[1:-1]) == {"audio-chunk"}
    assert words(heard) == words(text), heard
    assert status["requests"]["tts"] == 1 and status["requests"]["asr"] == 1


async def test_streamed_text_is_spoken_sentence_by_sentence(tmp_path: Path, engines, registry):
    async with serving(tmp_path, engines, registry) as (_app, feature), client(feature.port) as tcp:
        await tcp.write_event(SynthesizeStart().event())
        for piece in ("Good morn", "ing. The time is ", "seven o'clock. ", "Have a good day"):
            await tcp.write_event(SynthesizeChunk(text=piece).event())
        first = await read_until(tcp, "audio-start")  # the first sentence is spoken before the text ends
        await tcp.write_event(Synthesize(text="Good morning. The time is seven o'clock. Have a good day").event())
        await tcp.write_event(SynthesizeStop().event())
        rest, _ = await read_until(tcp, "synthesize-stopped")
    assert first[0] == []
    types = [e.type for e in rest]
    assert types.count("audio-stop") == 1 and types[-1] == "audio-stop" and "audio-start" not in types
    seconds = sum(len(e.payload or b"") for e in rest) / 2 / engines.tts.sample_rate
    assert seconds > 2.0  # all three sentences, once (the compatibility synthesize is not spoken again)


async def test_hey_jarvis_is_detected_and_silence_is_not(tmp_path: Path, engines, registry, speak):
    wake = np.concatenate([silence(1.0), speak("Hey Jarvis."), silence(1.0)])
    async with serving(tmp_path, engines, registry) as (app, feature), client(feature.port) as tcp:
        await tcp.write_event(Detect(names=["hey_jarvis"]).event())
        await send_audio(tcp, wake, SAMPLE_RATE)
        _, event = await read_until(tcp, "detection", "not-detected")
        await tcp.write_event(Detect().event())
        await send_audio(tcp, silence(2.0), SAMPLE_RATE)
        _, quiet = await read_until(tcp, "detection", "not-detected")
        status = app.status()["wyoming"]
    detection = Detection.from_event(event)
    assert event.type == "detection" and detection.name == "hey_jarvis"
    assert 1.0 < (detection.timestamp or 0) / 1000 < 2.6
    assert quiet.type == "not-detected"
    assert status["requests"]["wake"] == 1 and status["wake_detectors"] == 1  # one detector, reused


async def test_what_time_is_it_is_handled_by_the_appliances_skills(tmp_path: Path, engines, registry):
    async with serving(tmp_path, engines, registry) as (app, feature), client(feature.port) as tcp:
        await tcp.write_event(Transcript(text="what time is it", language="en").event())
        _, event = await read_until(tcp, "handled", "not-handled")
        status = app.status()
    reply = Handled.from_event(event).text or ""
    assert event.type == "handled" and re.search(r"\d", reply), reply
    assert status["last_turn"]["reply"] == reply and status["wyoming"]["requests"]["handle"] == 1


async def test_default_settings_open_no_port(tmp_path: Path, engines, registry):
    from appliance.audio.sink import NullSink
    from appliance.runtime.inprocess import running
    from appliance.settings import Settings, settings_from_dict

    assert not Settings().wyoming.enabled
    settings = settings_from_dict({"paths": {"state_dir": str(tmp_path / "s")}, "memory": {"enabled": False}})
    async with running(settings, engines, registry, NullSink()) as app:
        names = [f.name for f in app.features]
        with pytest.raises(OSError):
            await asyncio.wait_for(asyncio.open_connection("127.0.0.1", 10700), 5)
    assert "wyoming" not in names and "wyoming" not in app.status()


async def test_the_event_loop_keeps_running_while_a_client_is_transcribed(tmp_path: Path, engines, registry, recording):
    audio = recording("beckett")
    gaps: list[float] = []

    async def tick() -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.01)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    async with serving(tmp_path, engines, registry) as (_app, feature), client(feature.port) as tcp:
        ticker = asyncio.create_task(tick())
        started = time.perf_counter()
        _, text = await transcribe(tcp, audio, SAMPLE_RATE)
        took = time.perf_counter() - started
        ticker.cancel()
    assert "tried" in text.lower()
    assert max(gaps) < min(0.5, took / 2), (max(gaps), took)  # Whisper ran on its worker thread, not on the loop
