"""Home Assistant's own ``wyoming`` integration on the appliance's Wyoming port (real daemon, real HA).

Prints the figures docs/wyoming.md quotes: ``.venv/bin/pytest -s tests/test_ha_wyoming.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
import statistics
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pytest
from wyoming.asr import Transcribe
from wyoming.tts import Synthesize

from appliance.audio import SAMPLE_RATE
from appliance.control.local_socket import ControlClient

from .conftest import silence
from .ha_support import HomeAssistant, free_port
from .test_daemon import start_daemon, stop
from .test_wyoming import send_audio
from .wyoming_support import client, read_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

SPEECH_HEADER = "format=wav; codec=pcm; sample_rate=16000; bit_rate=16; channel=1; language=en"
"""HA's STT API: the audio's description (HA's pipeline sends raw PCM with this, as the test does)."""


def words(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9' ]", " ", text.lower()).split()


def wait_for_port(port: int, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            assert time.monotonic() < deadline, f"the Wyoming port {port} did not open"
            time.sleep(0.2)


@pytest.fixture(scope="module")
def wyoming_entry(
    home_assistant: HomeAssistant, registry, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """``appliance run`` with ``[wyoming]`` on a free port, added to HA by its config flow."""
    tmp = tmp_path_factory.mktemp("ha-wyoming")
    port = free_port()
    with pytest.MonkeyPatch.context() as env:
        for key, value in {"ENABLED": "true", "PORT": str(port), "ANNOUNCE": "false"}.items():
            env.setenv(f"APPLIANCE_WYOMING_{key}", value)
        env.setenv("APPLIANCE_MEMORY_ENABLED", "false")
        # The same audio for the same text in every run: with the voice's sampling noise, one reply in a
        # few dozen was heard back wrong ("The kitchen might as off.").
        env.setenv("APPLIANCE_TTS_VARIATION", "0")
        proc, sock, _ = start_daemon(tmp, registry, "--output", str(tmp / "out.wav"))
    try:
        wait_for_port(port)
        mark = home_assistant.log_mark()
        entry_id = home_assistant.add_entry("wyoming", {"host": "127.0.0.1", "port": port})
        try:
            entities = {e["entity_id"].split(".")[0]: e["entity_id"] for e in home_assistant.entities_of(entry_id)}
            yield {"entry_id": entry_id, "entities": entities, "sock": sock, "port": port}
            assert home_assistant.errors_since(mark) == []  # HA logged no error while it used the port
        finally:
            home_assistant.remove_entry(entry_id)
    finally:
        assert stop(proc) == 0


def transcribe(ha: HomeAssistant, stt_entity: str, audio: np.ndarray) -> tuple[dict[str, Any], float]:
    """HA's STT API with 16 kHz int16 PCM: (its answer, seconds from the call to the transcript)."""
    began = time.monotonic()
    answer = ha.rest(
        "POST",
        f"/api/stt/{stt_entity}",
        headers={"X-Speech-Content": SPEECH_HEADER, "Content-Type": "application/octet-stream"},
        data=audio.astype("<i2").tobytes(),
    )
    return answer, time.monotonic() - began


def synthesize(ha: HomeAssistant, tts_entity: str, text: str) -> tuple[bytes, float, float]:
    """HA's TTS (tts_get_url, then the URL): (the audio file, seconds to its first byte, to its end)."""
    began = time.monotonic()
    # The answer's "url" is on HA's LAN address; its "path" is on the address the tests reach.
    path = ha.rest("POST", "/api/tts_get_url", {"engine_id": tts_entity, "message": text, "cache": False})["path"]
    request = urllib.request.Request(ha.url + path, headers={"Authorization": f"Bearer {ha.token}"})
    with urllib.request.urlopen(request, timeout=60) as response:
        assert response.headers["Content-Type"] == "audio/mpeg"  # HA's default: MP3, made by ffmpeg
        first = response.read(1)
        first_s = time.monotonic() - began
        body = first + response.read()
    return body, first_s, time.monotonic() - began


async def transcribe_direct(port: int, audio: np.ndarray) -> float:
    """Seconds from the end of the audio to the transcript on the appliance's port, without HA."""
    async with client(port) as tcp:
        await tcp.write_event(Transcribe(language="en").event())
        await send_audio(tcp, audio, SAMPLE_RATE)
        began = time.monotonic()
        await read_until(tcp, "transcript")
        return time.monotonic() - began


async def synthesize_direct(port: int, text: str) -> float:
    """Seconds from synthesize to audio-stop on the appliance's port, without HA."""
    async with client(port) as tcp:
        began = time.monotonic()
        await tcp.write_event(Synthesize(text=text).event())
        await read_until(tcp, "audio-stop")
        return time.monotonic() - began


def decode(audio_file: bytes) -> np.ndarray:
    """Any audio file HA serves (MP3, WAV, ...) as 16 kHz mono int16, decoded by ffmpeg."""
    done = subprocess.run(
        [
            "ffmpeg",
            "-hide_banner",
            "-loglevel",
            "error",
            "-i",
            "pipe:0",
            "-f",
            "s16le",
            "-ac",
            "1",
            "-ar",
            "16000",
            "-",
        ],
        input=audio_file,
        capture_output=True,
        timeout=60,
        check=True,
    )
    return np.frombuffer(done.stdout, dtype="<i2")


def test_home_assistant_lists_the_appliances_stt_tts_and_wake_word(
    home_assistant: HomeAssistant, wyoming_entry: dict[str, Any]
):
    entities = wyoming_entry["entities"]
    assert {"stt", "tts", "wake_word"} <= set(entities), entities
    for entity_id in (entities["stt"], entities["tts"], entities["wake_word"]):
        assert home_assistant.state(entity_id)["state"] != "unavailable"
    engines = home_assistant.ws({"type": "stt/engine/list", "language": "en"})["providers"]
    stt = next(e for e in engines if e["engine_id"] == entities["stt"])
    assert stt["supported_languages"] == ["en"]
    wake_words = home_assistant.ws({"type": "wake_word/info", "entity_id": entities["wake_word"]})["wake_words"]
    assert [w["id"] for w in wake_words] == ["hey_jarvis"]


def test_home_assistant_transcribes_a_real_recording_through_the_appliance(
    home_assistant: HomeAssistant, wyoming_entry: dict[str, Any], recording, speak, record_property
):
    stt_entity = wyoming_entry["entities"]["stt"]
    human = recording("beckett")[: int(6.1 * SAMPLE_RATE)]  # "Ever tried. Ever failed. No matter. ..."
    answer, _ = transcribe(home_assistant, stt_entity, human)
    assert answer["result"] == "success"
    assert {"ever", "tried", "failed", "matter", "try", "again"} <= set(words(answer["text"])), answer
    through_ha, direct, lengths = [], [], []
    for request in ("Turn off the kitchen light.", "Is the garage door open?", "Lock the front door."):
        audio = np.concatenate([speak(request), silence(0.3)])
        lengths.append(len(audio) / SAMPLE_RATE)
        answer, took = transcribe(home_assistant, stt_entity, audio)
        assert words(answer["text"]) == words(request), answer
        through_ha.append(took)
        direct.append(asyncio.run(transcribe_direct(wyoming_entry["port"], audio)))
    ha_p50, direct_p50 = statistics.median(through_ha), statistics.median(direct)
    record_property("ha_transcribe_p50_s", round(ha_p50, 3))
    print(f"transcribe, {min(lengths):.1f}-{max(lengths):.1f} s of audio: HA /api/stt call -> transcript")
    print(f"  p50 {ha_p50:.2f} s; the same audio")
    print(f"  on the Wyoming port directly (transcribe .. audio-stop -> transcript) p50 {direct_p50:.2f} s")


def test_home_assistant_synthesizes_through_the_appliance_and_real_audio_comes_back(
    home_assistant: HomeAssistant, wyoming_entry: dict[str, Any], record_property
):
    entities = wyoming_entry["entities"]
    firsts, totals, direct = [], [], []
    for text in ("The kitchen light is off.", "The garage door is closed.", "The front door is locked now."):
        audio_file, first_s, total_s = synthesize(home_assistant, entities["tts"], text)
        firsts.append(first_s)
        totals.append(total_s)
        direct.append(asyncio.run(synthesize_direct(wyoming_entry["port"], text)))
        audio = decode(audio_file)
        assert len(audio) / SAMPLE_RATE > 1.0 and np.abs(audio).max() > 3000
        # The voice says the words: HA transcribes its own TTS audio back through the appliance.
        heard, _ = transcribe(home_assistant, entities["stt"], np.concatenate([audio, silence(0.3)]))
        assert words(heard["text"]) == words(text), heard
    record_property("ha_tts_first_byte_p50_s", round(statistics.median(firsts), 3))
    print(f"TTS, 3 short replies: HA tts_get_url call -> first byte of MP3 p50 {statistics.median(firsts):.2f} s,")
    print(f"  -> whole file p50 {statistics.median(totals):.2f} s; the Wyoming port directly (synthesize ->")
    print(f"  audio-stop) p50 {statistics.median(direct):.2f} s")
    status = ControlClient(wyoming_entry["sock"], timeout=30).call("status")["wyoming"]
    assert status["requests"]["tts"] >= 3 and status["closed_for"] == {}


def run_pipeline(ha: HomeAssistant, pipeline_id: str, audio: np.ndarray) -> dict[str, Any]:
    """Stream ``audio`` (16 kHz, in real time, as a satellite does) through an Assist pipeline from its wake
    word stage to TTS over HA's WebSocket API: each pipeline event's data by type (``error`` if one came)."""
    events: dict[str, Any] = {}
    run = {"type": "assist_pipeline/run", "start_stage": "wake_word", "end_stage": "tts", "pipeline": pipeline_id}
    with ha.ws_session() as conn:
        sent = ha.send(conn, {**run, "input": {"sample_rate": SAMPLE_RATE, "timeout": 30}})

        def take(timeout: float) -> None:
            message = json.loads(conn.recv(timeout=timeout))
            assert message.get("success", True), message
            if message["id"] == sent and message["type"] == "event":
                events[message["event"]["type"]] = message["event"]["data"]

        deadline = time.monotonic() + 120
        while "run-start" not in events:
            take(30)
        prefix = bytes([events["run-start"]["runner_data"]["stt_binary_handler_id"]])
        chunk = 1024
        for start in range(0, len(audio), chunk):
            if "stt-end" in events or "error" in events:
                break  # HA's VAD heard the request end: it takes no more audio
            conn.send(prefix + audio[start : start + chunk].astype("<i2").tobytes())
            with contextlib.suppress(TimeoutError):
                take(chunk / SAMPLE_RATE)  # real time, as a satellite streams
        else:
            conn.send(prefix)  # the end of the audio
        while "run-end" not in events and "error" not in events:
            take(max(0.1, deadline - time.monotonic()))
    return events


def test_an_assist_pipeline_of_the_appliances_engines_wakes_hears_acts_and_speaks(
    home_assistant: HomeAssistant, wyoming_entry: dict[str, Any], speak
):
    """HA's own pipeline: the appliance's wake word, STT and TTS around HA's agent, which turns the light on."""
    ha, entities = home_assistant, wyoming_entry["entities"]
    pipeline = ha.ws(
        {
            "type": "assist_pipeline/pipeline/create",
            "name": "Appliance engines",
            "language": "en",
            "conversation_engine": "conversation.home_assistant",
            "conversation_language": "en",
            "stt_engine": entities["stt"],
            "stt_language": "en",
            "tts_engine": entities["tts"],
            "tts_language": "en_US",
            "tts_voice": "en_US-joe-medium",
            "wake_word_entity": entities["wake_word"],
            "wake_word_id": "hey_jarvis",
        }
    )
    parts = [silence(1.0), speak("Hey Jarvis."), silence(0.5), speak("Turn on the porch light."), silence(2.0)]
    mark = ha.log_mark()
    try:
        events = run_pipeline(ha, pipeline["id"], np.concatenate(parts))
        assert "error" not in events, events["error"]
        assert events["wake_word-end"]["wake_word_output"]["wake_word_id"] == "hey_jarvis"
        assert words(events["stt-end"]["stt_output"]["text"]) == words("Turn on the porch light."), events
        assert events["intent-end"]["intent_output"]["response"]["response_type"] == "action_done"
        ha.wait_state("light.porch_light", "on", 10)
        reply = ha.rest("GET", urlsplit(events["tts-end"]["tts_output"]["url"]).path, raw=True)
        assert len(decode(reply)) / SAMPLE_RATE > 0.5
        assert ha.errors_since(mark) == []
    finally:
        ha.reset_home()
        ha.ws({"type": "assist_pipeline/pipeline/delete", "pipeline_id": pipeline["id"]})


def test_the_appliances_conversation_answers_as_an_agent_in_home_assistant(
    home_assistant: HomeAssistant, wyoming_entry: dict[str, Any]
):
    agent = wyoming_entry["entities"].get("conversation")
    assert agent, wyoming_entry["entities"]
    said = home_assistant.rest(
        "POST", "/api/conversation/process", {"text": "What is 12 times 3?", "language": "en", "agent_id": agent}
    )
    assert "36" in said["response"]["speech"]["plain"]["speech"], said
