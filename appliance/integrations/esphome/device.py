"""What Home Assistant sees of this appliance over the ESPHome API: its identity, entities and their states.

- a voice assistant device (``voice_assistant_feature_flags``): the Assist satellite with
  announcements, start-conversation and timers, its audio over the API connection;
- a media player (announcements and URLs, volume, mute) whose audio format is WAV, so
  Home Assistant's ffmpeg proxy and its TTS hand this appliance WAV it decodes itself;
- a *Mute* switch: the microphone mute (the wake word is not listened for);
- *Last request* and *Last reply* text sensors: each turn the appliance answered itself;
- the wake words through the voice-assistant configuration messages (Home Assistant makes
  its wake-word select from them).

``SPEAKER`` is not claimed: it would ask Home Assistant to stream its pipeline's speech
over the API and to render announcements as MP3 instead of the declared format.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from google.protobuf.message import Message

from appliance.integrations.esphome.messages import pb
from appliance.settings import BUILTIN_WAKE_WORDS

API_VERSION = (1, 10)
"""The API version answered in hello: 1.10 is the first with ``voice_assistant_feature_flags``."""
ESPHOME_VERSION = "2025.4.0"
"""The ESPHome release whose API this one speaks, as device info reports it."""
VOICE_ASSISTANT, SPEAKER, API_AUDIO, TIMERS, ANNOUNCE, START_CONVERSATION = (1 << i for i in range(6))
FEATURE_FLAGS = VOICE_ASSISTANT | API_AUDIO | TIMERS | ANNOUNCE | START_CONVERSATION
MEDIA_RATE = 22050
"""Hertz of the WAV asked of Home Assistant for announcements and media (the voice's own rate)."""

KEY_MEDIA_PLAYER, KEY_MUTE, KEY_LAST_REQUEST, KEY_LAST_REPLY = 1, 2, 3, 4

WAKE_WORD_TITLES = {
    "hey_jarvis": "Hey Jarvis",
    "alexa": "Alexa",
    "hey_mycroft": "Hey Mycroft",
    "hey_rhasspy": "Hey Rhasspy",
    "okay_nabu": "Okay Nabu",
}


@dataclass(frozen=True)
class Identity:
    """Who this appliance is to Home Assistant (stable across restarts: it keys the device's entities)."""

    name: str
    """The node name: letters, digits, '-' and '_'."""
    friendly_name: str
    mac: str
    """A locally administered MAC derived from the device id ("02:1A:…"), the device's unique id in HA."""

    @classmethod
    def of(cls, device_id: str, name: str = "") -> Identity:
        node = name or f"appliance-{device_id}"[:31].rstrip("-_")
        digest = bytearray(hashlib.sha256(device_id.encode()).digest()[:6])
        digest[0] = (digest[0] | 0x02) & 0xFE  # locally administered, unicast: never a real vendor's address
        return cls(node, f"Appliance {device_id}", ":".join(f"{b:02X}" for b in digest))


def hello(identity: Identity) -> Message:
    return pb.HelloResponse(
        api_version_major=API_VERSION[0],
        api_version_minor=API_VERSION[1],
        server_info=f"appliance (ESPHome API {API_VERSION[0]}.{API_VERSION[1]})",
        name=identity.name,
    )


def device_info(identity: Identity, *, area: str = "") -> Message:
    return pb.DeviceInfoResponse(
        uses_password=False,
        name=identity.name,
        friendly_name=identity.friendly_name,
        mac_address=identity.mac,
        esphome_version=ESPHOME_VERSION,
        compilation_time="",
        model="Offline smart speaker",
        manufacturer="appliance",
        project_name="appliance.satellite",
        project_version="1.0",
        voice_assistant_feature_flags=FEATURE_FLAGS,
        suggested_area=area,
    )


def entities() -> list[Message]:
    """ListEntities' answer, ``ListEntitiesDoneResponse`` last."""
    wav = [
        pb.MediaPlayerSupportedFormat(
            format="wav", sample_rate=MEDIA_RATE, num_channels=1, purpose=purpose, sample_bytes=2
        )
        for purpose in (pb.MEDIA_PLAYER_FORMAT_PURPOSE_DEFAULT, pb.MEDIA_PLAYER_FORMAT_PURPOSE_ANNOUNCEMENT)
    ]
    return [
        pb.ListEntitiesMediaPlayerResponse(
            object_id="speaker", key=KEY_MEDIA_PLAYER, name="Speaker", icon="mdi:speaker", supported_formats=wav
        ),
        pb.ListEntitiesSwitchResponse(
            object_id="mute", key=KEY_MUTE, name="Mute", icon="mdi:microphone-off", entity_category=1
        ),
        pb.ListEntitiesTextSensorResponse(
            object_id="last_request", key=KEY_LAST_REQUEST, name="Last request", icon="mdi:account-voice"
        ),
        pb.ListEntitiesTextSensorResponse(
            object_id="last_reply", key=KEY_LAST_REPLY, name="Last reply", icon="mdi:speaker-message"
        ),
        pb.ListEntitiesDoneResponse(),
    ]


@dataclass(frozen=True)
class DeviceState:
    """What the entities show now."""

    muted: bool
    """The microphone (the Mute switch)."""
    volume: int
    """Percent."""
    speaker_muted: bool
    playing: bool
    last_request: str = ""
    last_reply: str = ""


def states(state: DeviceState) -> list[Message]:
    """One state message per entity."""
    playing = pb.MEDIA_PLAYER_STATE_PLAYING if state.playing else pb.MEDIA_PLAYER_STATE_IDLE
    return [
        pb.MediaPlayerStateResponse(
            key=KEY_MEDIA_PLAYER, state=playing, volume=state.volume / 100, muted=state.speaker_muted
        ),
        pb.SwitchStateResponse(key=KEY_MUTE, state=state.muted),
        _text(KEY_LAST_REQUEST, state.last_request),
        _text(KEY_LAST_REPLY, state.last_reply),
    ]


def _text(key: int, text: str) -> Message:
    # Home Assistant keeps at most 255 characters of a state.
    return pb.TextSensorStateResponse(key=key, state=text[:255], missing_state=not text)


def wake_configuration(active: tuple[str, ...], available: tuple[str, ...] = BUILTIN_WAKE_WORDS) -> Message:
    """The wake words Home Assistant may choose from, and those listening now."""
    words = [
        pb.VoiceAssistantWakeWord(
            id=name, wake_word=WAKE_WORD_TITLES.get(name, name.replace("_", " ").title()), trained_languages=["en"]
        )
        for name in available
    ]
    return pb.VoiceAssistantConfigurationResponse(
        available_wake_words=words, active_wake_words=list(active), max_active_wake_words=max(1, len(available))
    )
