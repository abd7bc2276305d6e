"""A spoken request through Home Assistant's Assist pipeline (``esphome.pipeline = home_assistant``).

After the appliance's own wake word and endpoint, the request's audio goes to Home Assistant
as an ESPHome voice satellite's does: ``VoiceAssistantRequest(start)`` (no wake-word stage),
Home Assistant's ``VoiceAssistantResponse``, the audio as ``VoiceAssistantAudio`` chunks and
the ``end`` mark; then Home Assistant's events: the transcript at ``STT_END``, its answer's
text at ``TTS_START``, the answer's URL at ``TTS_END``, ``RUN_END``.  The answer is fetched
like an announcement's audio (from Home Assistant only), and the turn plays it.

Until Home Assistant's intent stage ran, any failure (no Home Assistant connected, a refusal,
an ``ERROR`` event, a timeout, its connection closing) gives None: the appliance answers
itself, from the transcription it ran meanwhile.  After it, Home Assistant owns the request
(it may have acted), so the appliance never answers it a second time.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from appliance.core.errors import ApplianceError
from appliance.integrations.esphome.media import MediaPolicy, decode, fetch
from appliance.integrations.esphome.messages import pb
from appliance.voice.turn_record import TurnRecord

_LOGGER = logging.getLogger(__name__)

CHUNK_SAMPLES = 1024
"""Samples per VoiceAssistantAudio message (64 ms at 16 kHz, 2 kB)."""
START_TIMEOUT_S = 5.0
"""Home Assistant must accept the request within this time."""
RUN_TIMEOUT_S = 60.0
"""Home Assistant's whole run (transcription, intent, speech) must end within this time."""


class VoicePeer(Protocol):
    """A connection whose client (Home Assistant) subscribed to the voice assistant."""

    voice_events: asyncio.Queue[Any] | None
    """Where its voice-assistant messages go while a request runs."""

    def send(self, messages: list[Any]) -> None: ...

    async def drain(self) -> None:
        """Wait until what was sent is on its way (a client that stops reading closes the connection)."""
        ...

    def policy(self) -> MediaPolicy: ...


@dataclass
class _Run:
    """How far Home Assistant got with one request."""

    acted: bool = False
    """Its intent stage ran: it owns the request now, so the appliance must not act on it too."""
    url: str = ""


async def ask_home_assistant(peer: VoicePeer, audio: np.ndarray, record: TurnRecord, rate: int) -> np.ndarray | None:
    """Home Assistant's spoken answer to ``audio`` (16 kHz int16) as int16 at ``rate``.

    None: answer here (Home Assistant did not act on it).  Empty: it acted, but its speech could not
    be had (no TTS, an error after the intent, a failed fetch): the caller may say ``record.reply``.
    """
    events: asyncio.Queue[Any] = asyncio.Queue(maxsize=256)
    run = _Run()
    peer.voice_events = events
    try:
        await asyncio.wait_for(_exchange(peer, events, audio, record, run), RUN_TIMEOUT_S)
        if run.acted and run.url:
            policy = peer.policy()
            answer = await decode(await fetch(run.url, policy), rate, timeout_s=policy.timeout_s)
            peer.send([pb.VoiceAssistantAnnounceFinished(success=True)])  # its satellite entity returns to idle
            return answer
    except asyncio.TimeoutError:
        _LOGGER.warning("ESPHome: Home Assistant's pipeline took over %.0f s", RUN_TIMEOUT_S)
        peer.send([pb.VoiceAssistantRequest(start=False)])
    except ApplianceError as err:
        _LOGGER.warning("ESPHome: Home Assistant's answer could not be had: %s", err)
    finally:
        peer.voice_events = None
    if not run.acted:
        _LOGGER.info("ESPHome: Home Assistant did not take the request; answering here")
        return None
    return np.zeros(0, dtype=np.int16)


async def _exchange(
    peer: VoicePeer, events: asyncio.Queue[Any], audio: np.ndarray, record: TurnRecord, run: _Run
) -> None:
    settings = pb.VoiceAssistantAudioSettings(noise_suppression_level=0, auto_gain=0, volume_multiplier=1.0)
    phrase = record.wake_model.replace("_", " ")
    peer.send([pb.VoiceAssistantRequest(start=True, flags=0, audio_settings=settings, wake_word_phrase=phrase)])
    accepted = await asyncio.wait_for(_next(events, "VoiceAssistantResponse"), START_TIMEOUT_S)
    if accepted.error:
        raise RelayError("esphome-relay-refused", "Home Assistant refused the request")
    pcm = audio.astype("<i2")
    for n, start in enumerate(range(0, len(pcm), CHUNK_SAMPLES)):
        peer.send([pb.VoiceAssistantAudio(data=pcm[start : start + CHUNK_SAMPLES].tobytes())])
        if n % 16 == 15:
            await peer.drain()
    peer.send([pb.VoiceAssistantAudio(end=True)])
    while True:
        event = await _next(events, "VoiceAssistantEventResponse")
        data = {d.name: d.value for d in event.data}
        kind = event.event_type
        if kind == pb.VOICE_ASSISTANT_ERROR:
            raise RelayError("esphome-relay-failed", f"Home Assistant's pipeline failed: {data.get('code', '?')}")
        if kind == pb.VOICE_ASSISTANT_STT_END:
            record.transcript = data.get("text", "")[:1000]
        elif kind == pb.VOICE_ASSISTANT_INTENT_END:
            run.acted = True
            record.intent = "home_assistant"
        elif kind == pb.VOICE_ASSISTANT_TTS_START:
            record.reply = data.get("text", "")[:4000]
        elif kind == pb.VOICE_ASSISTANT_TTS_END:
            run.url = data.get("url", "")
        elif kind == pb.VOICE_ASSISTANT_RUN_END:
            return


async def _next(events: asyncio.Queue[Any], name: str) -> Any:
    while True:
        msg = await events.get()
        if msg is None:
            raise RelayError("esphome-relay-gone", "Home Assistant's connection closed")
        if type(msg).__name__ == name:
            return msg


class RelayError(ApplianceError):
    """Home Assistant did not answer a request sent to its pipeline."""
