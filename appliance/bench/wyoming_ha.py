"""The ``through_home_assistant`` part of ``appliance bench --only wyoming``: the same servers, used by Home Assistant.

A real Home Assistant 2025.4.4 (appliance/bench/ha_core.py; ``scripts/setup --dev`` installs its
venv) gets three config entries of its own ``wyoming`` integration, made by its config flow: the
appliance's port, the ``wyoming-faster-whisper`` peer and the ``wyoming-piper`` peer, all already
running. Then, alternating request by request as the direct comparison does:

- asr: Home Assistant's ``POST /api/stt/<entity>`` with 16 kHz PCM (the bench's real speech
  segments and a few Piper-spoken requests), call → transcript, as a satellite's pipeline waits;
- tts: Home Assistant's ``POST /api/tts_get_url`` (no cache), then the URL: call → first byte of
  the MP3 Home Assistant serves (converted by its ``ffmpeg``), and → the whole file.

Every answer is checked (a transcript, an MP3 of some length), and Home Assistant's error lines
during the run are reported. Without Home Assistant's venv the part says how to make it.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from appliance.bench.ha_core import HA_VERSION, INSTALL, HaCore, HomeAssistantError, ha_venv
from appliance.bench.harness import log
from appliance.bench.wyoming_compare import alternate, asr_report, compare

SPEECH_HEADER = "format=wav; codec=pcm; sample_rate=16000; bit_rate=16; channel=1; language=en"
"""How Home Assistant's STT API is told what the audio is (raw PCM, as its pipeline sends)."""
SPOKEN = (
    "Turn off the kitchen light.",
    "Is the garage door open?",
    "Set a timer for ten minutes.",
    "What will the weather be like tomorrow?",
)
"""Requests spoken by the Piper voice, transcribed beside the recordings."""
MIN_MP3_BYTES = 2000
"""Less than this is not a spoken reply (a quarter of a second of 64 kbit/s MP3)."""


async def through_home_assistant(
    ports: dict[str, int], clips: Sequence[np.ndarray], replies: Sequence[str]
) -> dict[str, Any]:
    """Home Assistant's STT and TTS on the appliance's port and on the peers (``ports``: appliance, whisper, piper)."""
    if not (ha_venv() / "bin" / "hass").exists():
        return {"home_assistant": "not installed", "venv": str(ha_venv()), "make_it": INSTALL}
    with tempfile.TemporaryDirectory(prefix="bench-home-assistant-") as tmp:
        ha = await asyncio.to_thread(HaCore.start, Path(tmp))
        try:
            log(f"wyoming: Home Assistant {HA_VERSION} up in {ha.start_s:.1f} s")
            stt, tts = await asyncio.to_thread(_add_services, ha, ports)
            mark = ha.log_mark()
            log(f"wyoming: through Home Assistant, asr over {len(clips)} clips, {stt}")
            asr = await alternate(stt["appliance"], stt["peer"], list(clips), lambda e, a: _transcribe(ha, e, a))
            log(f"wyoming: through Home Assistant, tts over {len(replies)} replies, {tts}")
            spoken = await alternate(tts["appliance"], tts["peer"], list(replies), lambda e, t: _synthesize(ha, e, t))
            errors = ha.errors_since(mark)
        finally:
            await asyncio.to_thread(ha.stop)
    return {
        "home_assistant": HA_VERSION,
        "entities": {"stt": stt, "tts": tts},
        "asr": asr_report(asr, list(clips)),
        "tts": {
            "requests": len(replies),
            "first_byte_s": compare(spoken, "first_byte_s"),
            "total_s": compare(spoken, "total_s"),
            "mp3_bytes": compare(spoken, "bytes"),
        },
        "home_assistant_errors": errors,
    }


def _add_services(ha: HaCore, ports: dict[str, int]) -> tuple[dict[str, str], dict[str, str]]:
    """The three Wyoming entries: (STT entity by side, TTS entity by side)."""
    entities: dict[str, dict[str, str]] = {}
    for name, port in ports.items():
        entry = ha.add_entry("wyoming", {"host": "127.0.0.1", "port": port})
        entities[name] = {e["entity_id"].split(".")[0]: e["entity_id"] for e in ha.entities_of(entry)}
    try:
        stt = {"appliance": entities["appliance"]["stt"], "peer": entities["whisper"]["stt"]}
        tts = {"appliance": entities["appliance"]["tts"], "peer": entities["piper"]["tts"]}
    except KeyError as err:
        raise ha.fail(f"a Wyoming entry has no {err} entity: {entities}") from None
    return stt, tts


async def _transcribe(ha: HaCore, entity: str, audio: np.ndarray) -> dict[str, Any]:
    """``POST /api/stt/<entity>``: seconds from the call to the transcript, and its text."""
    headers = {"X-Speech-Content": SPEECH_HEADER, "Content-Type": "application/octet-stream"}
    began = time.perf_counter()
    answer = await asyncio.to_thread(
        ha.rest, "POST", f"/api/stt/{entity}", headers=headers, data=audio.astype("<i2").tobytes()
    )
    seconds = time.perf_counter() - began
    if answer.get("result") != "success" or not answer.get("text"):
        raise HomeAssistantError(f"{entity} did not transcribe: {answer}")
    return {"seconds": round(seconds, 4), "text": answer["text"]}


async def _synthesize(ha: HaCore, entity: str, text: str) -> dict[str, Any]:
    """``tts_get_url`` and its URL: seconds from the call to the file's first byte and to its end."""
    return await asyncio.to_thread(_fetch_speech, ha, entity, text)


def _fetch_speech(ha: HaCore, entity: str, text: str) -> dict[str, Any]:
    began = time.perf_counter()
    # The answer's "url" is on Home Assistant's LAN address; its "path" is on the one reached here.
    path = ha.rest("POST", "/api/tts_get_url", {"engine_id": entity, "message": text, "cache": False})["path"]
    request = urllib.request.Request(ha.url + path, headers={"Authorization": f"Bearer {ha.token}"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310 - Home Assistant's loopback URL
        kind = response.headers["Content-Type"]
        first = response.read(1)
        first_s = time.perf_counter() - began
        body = first + response.read()
    total_s = time.perf_counter() - began
    if kind != "audio/mpeg" or len(body) < MIN_MP3_BYTES:
        raise HomeAssistantError(f"{entity} gave {len(body)} bytes of {kind} for {text!r}")
    return {"first_byte_s": round(first_s, 4), "total_s": round(total_s, 4), "bytes": len(body)}
