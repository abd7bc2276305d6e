"""What goes out for each bus event: retained state, JSON events, and which of them are durable.

Pure: ``publications(topics, event)`` returns the messages; the bridge sends
them.  Durable ones (transcripts, replies, intents, errors) go through the
SQLite outbox at QoS 1; state is retained and re-published on every connect,
so it never needs the outbox.  Transcripts and replies go out without control
characters (:func:`~appliance.core.control_chars.strip_control_chars`), whoever
published them: Home Assistant shows them, and a terminal may read them.
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from appliance.control.payload import scrub
from appliance.core.control_chars import strip_control_chars
from appliance.core.events import (
    BroadcastRelayed,
    ElectionDecided,
    ErrorRaised,
    Event,
    Forgotten,
    IntentExecuted,
    MuteChanged,
    PresenceChanged,
    Reply,
    RetainedState,
    StageChanged,
    Transcript,
    TranscriptPartial,
    VolumeChanged,
    WakeDetected,
    WakeWordChanged,
)
from appliance.core.procstat import memory_mb
from appliance.integrations.mqtt.topics import Topics, encode
from appliance.skills.events import TimerEvent

HA_STATE_LIMIT = 255
"""Home Assistant keeps at most this many characters of a sensor's state."""

EVENT_TYPES = {"wake": "wake_detected", "intent": "intent_executed", "error": "error"}
"""``event_type`` values for Home Assistant's event entities."""


@dataclass(frozen=True)
class Publication:
    topic: str
    payload: bytes
    retain: bool = False
    qos: int = 1
    durable: bool = False
    """Through the outbox: kept until the broker acknowledges it, across restarts."""


def onoff(value: bool) -> bytes:
    return b"ON" if value else b"OFF"


def publications(topics: Topics, event: Event) -> list[Publication]:
    """The messages one bus event becomes (none for events MQTT does not carry)."""
    t = topics
    if isinstance(event, (TranscriptPartial, Transcript, Reply)):
        event = replace(event, text=strip_control_chars(event.text))
    if isinstance(event, StageChanged):
        return [Publication(t.state("stage"), event.stage.value.encode(), retain=True)]
    if isinstance(event, MuteChanged):
        return [Publication(t.state("mute"), onoff(event.muted), retain=True)]
    if isinstance(event, VolumeChanged):
        return [Publication(t.state("volume"), str(event.volume).encode(), retain=True)]
    if isinstance(event, WakeWordChanged):
        return wake_word_state(t, event.models, event.sensitivity)
    if isinstance(event, WakeDetected):
        return [Publication(t.event("wake"), event_json(event))]
    if isinstance(event, TranscriptPartial):
        return [Publication(t.event("transcript"), encode({"text": event.text, "final": False, "ts": event.ts}), qos=0)]
    if isinstance(event, Transcript):
        return [
            Publication(t.event("transcript"), event_json(event, final=True), durable=True),
            *text_state(t, "transcript", event.text, {"language": event.language, "stt_s": event.stt_s}, event.ts),
        ]
    if isinstance(event, Reply):
        return [
            Publication(t.event("reply"), event_json(event), durable=True),
            *text_state(t, "reply", event.text, {"interrupted": event.interrupted}, event.ts),
        ]
    if isinstance(event, (IntentExecuted, ErrorRaised)):
        return [Publication(t.event(event.name), event_json(event), durable=True)]
    if isinstance(event, TimerEvent):
        data = event.as_dict()
        data.pop("event", None)
        return [Publication(t.event(event.name), encode({**data, "event_type": event.action.value}), durable=True)]
    if isinstance(event, Forgotten):  # an empty retained message deletes the retained last transcript and reply
        keys = ("transcript", "transcript/attributes", "reply", "reply/attributes")
        return [Publication(t.state(key), b"", retain=True) for key in keys]
    if isinstance(event, RetainedState):
        return [Publication(t.state(event.key), event.payload.encode(), retain=True)]
    if isinstance(event, (ElectionDecided, BroadcastRelayed)):  # not durable: it matters now, not after an outage
        return [Publication(t.event(event.name), event_json(event))]
    if isinstance(event, PresenceChanged):  # from vision, when it runs
        return [Publication(t.state("presence"), onoff(event.present), retain=True)]
    return []


def event_json(event: Event, **extra: Any) -> bytes:
    """The event's fields, its Home Assistant ``event_type`` and ``ts`` (Unix seconds)."""
    data = event.as_dict()
    data.pop("event", None)
    if event.name in EVENT_TYPES:
        data["event_type"] = EVENT_TYPES[event.name]
    return encode({**data, **extra})


def wake_word_state(topics: Topics, models: tuple[str, ...] | list[str], sensitivity: float) -> list[Publication]:
    first = models[0] if models else ""
    return [
        Publication(topics.state("wake_word"), scrub(first).encode(), retain=True),
        Publication(topics.state("sensitivity"), f"{sensitivity:g}".encode(), retain=True),
    ]


def text_state(topics: Topics, key: str, text: str, attributes: dict[str, Any], ts: float) -> list[Publication]:
    """A text sensor: state cut to Home Assistant's limit, the full text in its attributes."""
    short = text if len(text) <= HA_STATE_LIMIT else text[: HA_STATE_LIMIT - 1] + "…"
    return [
        Publication(topics.state(key), scrub(short).encode(), retain=True),  # never a surrogate on the wire
        Publication(topics.state(f"{key}/attributes"), encode({"text": text, "ts": ts, **attributes}), retain=True),
    ]


INTEGRATIONS = ("home_assistant", "esphome", "wyoming")
"""The ``status`` sections whose summary ``state/health`` carries, when that integration is on."""
SUMMARY_KEYS = ("connection", "entities", "exposed", "clients", "pipeline", "last_error")
"""What each integration's summary keeps: its connection, what it knows and who is connected, never a credential."""


def integrations_summary(snapshot: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Home Assistant's connection and entities, the satellite's and Wyoming's clients, from ``status``."""
    out: dict[str, dict[str, Any]] = {}
    for name in INTEGRATIONS:
        part = snapshot.get(name)
        if isinstance(part, Mapping):
            out[name] = {key: part[key] for key in SUMMARY_KEYS if key in part}
    return out


def health_payload(
    uptime_s: float,
    latency: dict[str, float | None],
    outbox: int,
    llm_server: Mapping[str, Any] | None = None,
    integrations: Mapping[str, Any] | None = None,
) -> bytes:
    """The ``state/health`` JSON: uptime, CPU temperature where readable, memory, last latencies, LAN LLM server,
    and the integrations that are on (Home Assistant, the ESPHome satellite, Wyoming)."""
    payload: dict[str, Any] = {
        "uptime_s": round(uptime_s, 1),
        "cpu_temp_c": cpu_temperature(),
        "memory_mb": resident_mb(),
        "latency": latency,
        "outbox": outbox,
        "pid": os.getpid(),
        "ts": round(time.time(), 3),
    }
    if llm_server is not None:  # status's llm_server: url (no credentials), state, last error, retry
        payload["llm_server"] = dict(llm_server)
    if integrations:
        payload["integrations"] = dict(integrations)
    return encode(payload)


def resident_mb() -> float:
    """Current resident memory of this process in MB = 10^6 bytes (peak where /proc is missing)."""
    return memory_mb(field="VmRSS") or round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6, 1)


def cpu_temperature(root: Path = Path("/sys/class/thermal")) -> float | None:
    """Hottest thermal zone in °C, or None where the board exposes none."""
    temps = []
    for zone in sorted(root.glob("thermal_zone*/temp")):
        try:
            temps.append(int(zone.read_text().strip()) / 1000.0)
        except (OSError, ValueError):
            continue
    return round(max(temps), 1) if temps else None
