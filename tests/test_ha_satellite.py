"""The appliance as an Assist satellite in a real Home Assistant, added through HA's own ``esphome`` config flow.

Prints the figure docs/esphome.md quotes: ``.venv/bin/pytest -s tests/test_ha_satellite.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import conversation
from .esphome_support import KEY, key_file, serving, until
from .ha_support import HomeAssistant
from .test_esphome_pipeline import CuedSource, hearing
from .test_esphome_satellite import TappedSink, http_serving, wav_bytes

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

HA_TIMEOUT_S = 60.0


async def add_satellite(ha: HomeAssistant, port: int, *, key: str | None) -> str:
    """Settings > Devices & services > Add integration > ESPHome: host, port, then the encryption key if asked."""
    flows = "/api/config/config_entries/flow"
    flow = await ha.async_rest("POST", flows, {"handler": "esphome", "show_advanced_options": False})
    flow = await ha.async_rest("POST", f"{flows}/{flow['flow_id']}", {"host": "127.0.0.1", "port": port})
    if flow.get("step_id") == "encryption_key":
        assert key is not None, "HA asked for a key the device does not use"
        flow = await ha.async_rest("POST", f"{flows}/{flow['flow_id']}", {"noise_psk": key})
    assert flow["type"] == "create_entry", flow
    return str(flow["result"]["entry_id"])


@contextlib.asynccontextmanager
async def satellite_in_ha(
    ha: HomeAssistant, tmp_path: Path, engines: Any, registry: Any, sink: TappedSink
) -> AsyncIterator[tuple[Any, Any, dict[str, str], str]]:
    """(app, feature, entity ids by domain, HA device id) for the appliance added to HA with a Noise key."""
    keyed = {"encryption_key_file": key_file(tmp_path)}
    async with (
        serving(tmp_path, engines, registry, sink=sink, **keyed) as (app, feature),
        added_to_ha(ha, feature) as (entities, device_id),
    ):
        yield app, feature, entities, device_id


@contextlib.asynccontextmanager
async def added_to_ha(ha: HomeAssistant, feature: Any) -> AsyncIterator[tuple[dict[str, str], str]]:
    """The running satellite added to HA with the test key: (entity ids by domain and by id, HA device id)."""
    # HA binds 127.0.0.1 here but names its LAN address in the URLs it hands out: name the one it serves on
    await ha.async_ws({"type": "config/core/update", "internal_url": ha.url})
    entry_id = await add_satellite(ha, feature.port, key=KEY)
    try:
        rows: list[dict[str, Any]] = []

        async def loaded() -> None:
            while not any(r["entity_id"].startswith("assist_satellite.") for r in rows):
                rows[:] = await asyncio.to_thread(ha.entities_of, entry_id)
                await asyncio.sleep(0.2)

        await asyncio.wait_for(loaded(), HA_TIMEOUT_S)
        by_domain: dict[str, str] = {}
        for row in rows:
            by_domain.setdefault(row["entity_id"].split(".")[0], row["entity_id"])
            by_domain[row["entity_id"]] = row["entity_id"]
        device_id = next(r["device_id"] for r in rows if r["entity_id"].startswith("assist_satellite."))
        await ha.async_wait_state(by_domain["assist_satellite"], "idle", timeout=HA_TIMEOUT_S)
        yield by_domain, device_id
    finally:
        await ha.async_remove_entry(entry_id)
        await ha.async_ws({"type": "config/core/update", "internal_url": None})


def said_by_ha(ha: HomeAssistant, text: str, device_id: str) -> str:
    """HA's Assist pipeline (intent stage) on ``text`` as said to the satellite ``device_id``: HA's spoken answer."""
    with ha.ws_session() as conn:
        sent = ha.send(
            conn,
            {
                "type": "assist_pipeline/run",
                "start_stage": "intent",
                "end_stage": "intent",
                "input": {"text": text},
                "device_id": device_id,
            },
        )
        deadline = time.monotonic() + HA_TIMEOUT_S
        while True:
            msg = json.loads(conn.recv(timeout=max(0.1, deadline - time.monotonic())))
            if msg.get("id") != sent or msg["type"] != "event":
                continue
            event = msg["event"]
            if event["type"] == "intent-end":
                return str(event["data"]["intent_output"]["response"]["speech"]["plain"]["speech"])
            assert event["type"] not in ("error", "run-end"), event


async def test_home_assistant_announces_and_sets_timers_on_the_appliance(
    home_assistant: HomeAssistant, tmp_path: Path, engines, registry
):
    ha = home_assistant
    voice = engines.tts
    sink = TappedSink()
    files = {"/dinner.wav": wav_bytes(voice.synthesize_all("Dinner is ready."), voice.sample_rate)}
    with http_serving(files) as base:
        async with satellite_in_ha(ha, tmp_path, engines, registry, sink) as (app, feature, entities, device_id):
            satellite = entities["assist_satellite"]
            assert feature.status()["encrypted"] and feature.status()["clients"] == 1
            assert {"media_player", "switch", "sensor", "select"} <= set(entities) or "media_player" in entities

            # assist_satellite.announce: HA's ffmpeg proxy converts the media to the WAV this device asked for
            took = []
            for _ in range(3):
                called = time.monotonic()
                await asyncio.to_thread(
                    ha.call,
                    "assist_satellite",
                    "announce",
                    entity_id=satellite,
                    media_id=f"{base}/dinner.wav",
                    preannounce=False,
                )
                first = sink.first_after(called)
                assert first is not None, ha.log_tail()
                took.append(first - called)
            print(f"\nHA assist_satellite.announce -> first sample: {', '.join(f'{t * 1000:.0f}' for t in took)} ms")
            assert feature.status()["announcements"] == 3 and feature.status()["media_failed"] == 0

            # the Mute switch in HA mutes the appliance's microphone
            mute = next(e for e in entities if e.startswith("switch."))
            await asyncio.to_thread(ha.call, "switch", "turn_on", entity_id=mute)
            await until(lambda: app.controller.muted, what="muted from HA")
            await asyncio.to_thread(ha.call, "switch", "turn_off", entity_id=mute)
            await until(lambda: not app.controller.muted, what="unmuted from HA")

            # a timer set in HA for this satellite rings here
            speech = await asyncio.to_thread(said_by_ha, ha, "set a timer for 2 seconds", device_id)
            assert "timer" in speech.lower() or "started" in speech.lower(), speech
            await until(lambda: feature.status()["timers_rung"] == 1, timeout_s=HA_TIMEOUT_S, what="the timer ringing")
            assert await app.controller.stop()


async def test_home_assistant_picks_the_wake_word(home_assistant: HomeAssistant, tmp_path: Path, engines, registry):
    ha = home_assistant
    async with satellite_in_ha(ha, tmp_path, engines, registry, TappedSink()) as (app, _feature, entities, _device):
        selects = [e for e in entities if e.startswith("select.") and "wake" in e]
        assert selects, entities
        state = await asyncio.to_thread(ha.state, selects[0])
        assert "Alexa" in state["attributes"]["options"]
        try:
            await asyncio.to_thread(ha.call, "select", "select_option", entity_id=selects[0], option="Alexa")
            await until(lambda: app.controller.wake_words == ("alexa",), timeout_s=HA_TIMEOUT_S, what="alexa chosen")
        finally:  # the session's engines are shared: their detector listens for Hey Jarvis again
            await app.controller.set_wake_words(("hey_jarvis",))


async def test_with_pipeline_home_assistant_a_spoken_request_is_answered_by_home_assistant(
    home_assistant: HomeAssistant, tmp_path: Path, engines, registry, speak
):
    """The local wake word, then HA's pipeline (the appliance's own STT and voice over Wyoming, HA's agent)."""
    ha = home_assistant
    sink, source = TappedSink(), CuedSource()
    sections: dict[str, Any] = {"esphome": {"pipeline": "home_assistant", "encryption_key_file": key_file(tmp_path)}}
    sections["wyoming"] = {"enabled": True, "port": 0, "announce": False}
    async with hearing(tmp_path, engines, registry, source, sink, **sections) as (app, feature):
        wyoming = next(f for f in app.features if f.name == "wyoming")
        engines_entry = await ha.async_add_entry("wyoming", {"host": "127.0.0.1", "port": wyoming.port})
        pipeline: dict[str, Any] = {}
        try:
            rows = await asyncio.to_thread(ha.entities_of, engines_entry)
            wy = {e["entity_id"].split(".")[0]: e["entity_id"] for e in rows}
            pipeline = await ha.async_ws(
                {
                    "type": "assist_pipeline/pipeline/create",
                    "name": "Appliance satellite",
                    "language": "en",
                    "conversation_engine": "conversation.home_assistant",
                    "conversation_language": "en",
                    "stt_engine": wy["stt"],
                    "stt_language": "en",
                    "tts_engine": wy["tts"],
                    "tts_language": "en_US",
                    "tts_voice": "en_US-joe-medium",
                    "wake_word_entity": None,
                    "wake_word_id": None,
                }
            )
            async with added_to_ha(ha, feature) as (entities, _device):
                chooser = next(e for e in entities if e.startswith("select.") and e.endswith("_assistant"))
                await asyncio.to_thread(
                    ha.call, "select", "select_option", entity_id=chooser, option="Appliance satellite"
                )
                await until(lambda: feature.satellite.voice_peers, what="HA's voice subscription")
                audio, _, _ = conversation(speak, speak("Turn on the porch light."))
                source.say(audio)
                await ha.async_wait_state("light.porch_light", "on", timeout=HA_TIMEOUT_S)
                await until(
                    lambda: any(r.intent == "home_assistant" for r in app.pipeline.history),
                    timeout_s=HA_TIMEOUT_S,
                    what="HA's answer played",
                )
                record = next(r for r in app.pipeline.history if r.intent == "home_assistant")
                assert "porch" in record.transcript.lower() and record.reply, record
                assert record.first_audio_mono is not None and sink.first_after(record.first_audio_mono - 0.1)
                assert feature.status()["relayed"] == 1
                delay = record.first_audio_mono - (record.speech_end_mono or record.first_audio_mono)
                print(f"\nHA pipeline: end of speech -> HA's answer playing: {delay * 1000:.0f} ms")
        finally:
            await asyncio.to_thread(ha.reset_home)
            if pipeline:
                await ha.async_ws({"type": "assist_pipeline/pipeline/delete", "pipeline_id": pipeline["id"]})
            await ha.async_remove_entry(engines_entry)
