"""The whole voice loop on recordings: real wake word, VAD, Whisper, LLM and Piper models."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import wave

import numpy as np
import pytest

from appliance.audio import SAMPLE_RATE
from appliance.audio.buffer import resample, rms_dbfs
from appliance.audio.wav import read_wav, write_wav
from appliance.cli.converse import TIMING_KEYS, converse, voiced_segments
from appliance.settings import Settings

from .conftest import conversation, silence

pytestmark = pytest.mark.integration


def clip(samples: np.ndarray, start: float, end: float) -> np.ndarray:
    return samples[int(start * SAMPLE_RATE) : int(end * SAMPLE_RATE)]


@pytest.fixture(scope="module")
def human_request(recording) -> np.ndarray:
    """A real person asking "Do you hear me?" (moonshine-voice's endgame recording)."""
    return clip(recording("endgame"), 0.0, 1.1)


def run_converse(registry, engines, audio, tmp_path, *, realtime=False, settings=None):
    settings = settings or Settings()
    return asyncio.run(
        asyncio.wait_for(
            converse(settings, engines, registry, audio, realtime=realtime, out=tmp_path / "reply.wav"), timeout=240
        )
    ).as_dict()


def test_cli_converse_end_to_end(speak, human_request, registry, tmp_path):
    audio, wake_start, wake_end = conversation(speak, human_request)
    wav = tmp_path / "conversation.wav"
    write_wav(wav, audio, SAMPLE_RATE)
    proc = subprocess.run(
        [sys.executable, "-m", "appliance", "converse", str(wav), "--json", "--out", str(tmp_path / "reply.wav")],
        capture_output=True,
        text=True,
        timeout=300,
        env={**__import__("os").environ, "APPLIANCE_PATHS_STATE_DIR": str(registry.state_dir)},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout)
    assert result["wake"]["detected"] and result["wake"]["model"] == "hey_jarvis"
    assert wake_start + 0.3 < result["wake"]["at_s"] < wake_end + 0.5
    assert "hear" in result["transcript"].lower()
    assert result["reply"].strip()
    reply = read_wav(result["reply_wav"], rate=22050)
    assert len(reply) > 22050 * 0.5 and rms_dbfs(reply) > -40  # real, audible speech
    timings = result["timings"]
    assert tuple(timings) == TIMING_KEYS
    assert all(value is not None for value in timings.values())
    assert 0 < timings["end_of_speech_to_first_audio_s"] < 10


def test_real_human_request_is_understood(speak, recording, registry, engines, tmp_path):
    request = clip(recording("beckett"), 0.0, 1.6)  # a real voice: "Ever tried."
    audio, _, _ = conversation(speak, request)
    result = run_converse(registry, engines, audio, tmp_path)
    assert [t["outcome"] for t in result["turns"]] == ["answered"]
    assert "tried" in result["transcript"].lower()
    assert result["reply"].strip()


def test_speech_without_the_wake_word_wakes_nothing(recording, registry, engines, tmp_path):
    result = run_converse(registry, engines, recording("beckett"), tmp_path)
    assert result["wake"]["detected"] is False
    assert result["turns"] == []


def test_other_sample_rates_are_resampled(speak, human_request, registry, engines, tmp_path):
    audio, _, _ = conversation(speak, human_request)
    wav = tmp_path / "22k.wav"
    write_wav(wav, resample(audio, SAMPLE_RATE, 22050), 22050)
    result = run_converse(registry, engines, read_wav(wav), tmp_path)
    assert result["wake"]["detected"]
    assert "hear" in result["transcript"].lower()


def test_barge_in_interrupts_the_reply_and_listens_again(speak, registry, engines, tmp_path):
    first, _, _ = conversation(speak, speak("Tell me a long story about a dragon and a brave knight."))
    second = np.concatenate([speak("Hey Jarvis."), silence(0.4), speak("What time is it?"), silence(2.0)])
    audio = np.concatenate([first, silence(3.0), second])  # the second wake word lands while the story plays
    result = run_converse(registry, engines, audio, tmp_path, realtime=True)
    outcomes = [t["outcome"] for t in result["turns"]]
    assert outcomes == ["interrupted", "answered"], result["turns"]
    assert "time" in result["turns"][1]["transcript"].lower()
    assert result["turns"][1]["wake"]["detected"]


def test_stereo_and_garbage_wavs_are_refused_clearly(tmp_path, registry):
    stereo = tmp_path / "stereo.wav"
    with wave.open(str(stereo), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(b"\0" * 6400)
    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(b"this is not audio at all" * 100)
    env = {**__import__("os").environ, "APPLIANCE_PATHS_STATE_DIR": str(registry.state_dir)}
    for path, needle in ((stereo, "2 channels; mono is needed"), (garbage, "not a readable PCM WAV")):
        proc = subprocess.run(
            [sys.executable, "-m", "appliance", "transcribe", str(path)],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
        )
        assert proc.returncode == 1
        assert needle in proc.stderr


def test_voiced_segments_find_the_speech(speak):
    audio = np.concatenate([silence(1.0), speak("Hello there."), silence(1.0)])
    segments = voiced_segments(audio)
    assert len(segments) == 1
    start, end = segments[0]
    assert 0.9 < start < 1.3 and abs(end - (len(audio) / SAMPLE_RATE - 1.0)) < 0.3
