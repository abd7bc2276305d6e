"""Announcements in MP3, FLAC and Ogg: decoded through ffmpeg and played on the appliance's output.

Home Assistant is asked for WAV, but may send another format anyway (its ffmpeg proxy, a media
file, a TTS engine that makes MP3). The files here are made by ffmpeg from the real Piper voice,
served by a local HTTP server (the stand-in for Home Assistant's media URLs), announced through
aioesphomeapi's client, and what reached the output is transcribed back by the appliance's STT.
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from appliance.audio import SAMPLE_RATE
from appliance.audio.buffer import resample
from tests.esphome_support import TIMEOUT_S, client, serving
from tests.test_esphome_satellite import TappedSink, http_serving, wav_bytes

pytestmark = pytest.mark.integration

SAID = "Dinner is ready in the kitchen."
FALLBACK = "Something else entirely."
"""The announcement's text: said in the appliance's own voice only if the audio cannot be played."""
ENCODINGS = {
    "mp3": ["-c:a", "libmp3lame", "-b:a", "64k", "-f", "mp3"],
    "flac": ["-c:a", "flac", "-f", "flac"],
    "ogg": ["-c:a", "libvorbis", "-q:a", "3", "-f", "ogg"],
}


def words(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9' ]", " ", text.lower()).split()


def encode(wav: bytes, kind: str) -> bytes:
    """``wav`` re-encoded by ffmpeg into ``kind`` (a real file of that format, in memory)."""
    args = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-f", "wav", "-i", "pipe:0"]
    done = subprocess.run([*args, *ENCODINGS[kind], "pipe:1"], input=wav, capture_output=True, timeout=60, check=True)
    return done.stdout


@pytest.fixture(scope="module")
def media_files(voice) -> dict[str, bytes]:
    wav = wav_bytes(voice.synthesize_all(SAID), voice.sample_rate)
    files = {f"/say.{kind}": encode(wav, kind) for kind in ENCODINGS}
    assert files["/say.mp3"][:3] == b"ID3" or files["/say.mp3"][:2] == b"\xff\xfb"
    assert files["/say.flac"][:4] == b"fLaC" and files["/say.ogg"][:4] == b"OggS"
    return files


@pytest.mark.parametrize("kind", list(ENCODINGS))
async def test_an_announcement_in_mp3_flac_or_ogg_plays_on_the_output(
    tmp_path: Path, engines, registry, media_files: dict[str, bytes], kind: str
):
    sink = TappedSink()
    with http_serving(media_files) as base:
        async with serving(tmp_path, engines, registry, sink=sink) as (_app, feature), client(feature.port) as api:
            called = time.monotonic()
            done = await api.send_voice_assistant_announcement_await_response(f"{base}/say.{kind}", TIMEOUT_S, FALLBACK)
            assert done.success is True
            assert feature.status()["media_failed"] == 0 and feature.status()["announcements"] == 1
            first = sink.first_after(called)
            assert first is not None
            played = np.concatenate(sink.played)
    print(f"\n{kind}: announce call -> first sample {(first - called) * 1000:.0f} ms")
    heard = resample(played, sink.rate, SAMPLE_RATE) if sink.rate != SAMPLE_RATE else played
    assert len(heard) > 1.0 * SAMPLE_RATE
    # The file's words, not the fallback text: the decoded audio is what reached the output.
    assert words(engines.stt.transcribe(heard).text) == words(SAID)


async def test_a_broken_mp3_is_refused_and_the_text_is_said_instead(
    tmp_path: Path, engines, registry, media_files: dict[str, bytes]
):
    good = media_files["/say.mp3"]
    broken = {"/broken.mp3": b"ID3" + bytes(range(256)) * 40, "/cut.flac": media_files["/say.flac"][:60]}
    sink = TappedSink()
    with http_serving(broken) as base:
        async with serving(tmp_path, engines, registry, sink=sink) as (_app, feature), client(feature.port) as api:
            for path in broken:
                done = await api.send_voice_assistant_announcement_await_response(f"{base}{path}", TIMEOUT_S, FALLBACK)
                assert done.success is False
            assert feature.status()["media_failed"] == 2
            assert len(sink.audible) > 0  # the text, in the appliance's own voice
            with http_serving({"/say.mp3": good}) as fine:  # and the next good file still plays
                done = await api.send_voice_assistant_announcement_await_response(f"{fine}/say.mp3", TIMEOUT_S, "")
                assert done.success is True
