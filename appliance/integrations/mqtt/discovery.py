"""Home Assistant MQTT device discovery: one retained payload that describes every entity.

Published on ``<prefix>/device/<device_id>/config`` with ``dev``, ``o`` and
``cmps``; entities use ``default_entity_id`` (``object_id`` is deprecated).
Pure: builds a dict, publishes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from appliance import __version__
from appliance.integrations.mqtt.topics import Topics

LATENCIES = (
    ("stt_s", "Speech-to-text time"),
    ("llm_first_token_s", "LLM first token"),
    ("tts_first_audio_s", "TTS first audio"),
    ("end_of_speech_to_first_audio_s", "Reply latency"),
)
"""Per-stage latency sensors (diagnostic), read from the health state."""

STAGES = ("idle", "listening", "thinking", "speaking")


@dataclass(frozen=True)
class DeviceInfo:
    device_id: str
    name: str
    wake_words: tuple[str, ...]
    """Options of the wake-word select."""
    presence: bool = False
    """Whether a camera provides presence (adds the occupancy binary sensor)."""
    skills: bool = False
    """Whether timers and alarms run (adds next alarm, active timers and the timer event)."""
    llm_models: tuple[str, ...] = ()
    """Installed LLMs for the model select; empty (no select) unless ``models.use`` is allowed over MQTT."""
    rooms: bool = False
    """Whether several appliances share the broker (``rooms``: adds the Broadcast notify entity)."""


def discovery_payload(
    topics: Topics, info: DeviceInfo, *, permits: Callable[[str], bool] | None = None
) -> dict[str, Any]:
    """The ``homeassistant/device/<id>/config`` payload; controls MQTT may not run (``permits``) are left out."""
    cmps: dict[str, dict[str, Any]] = {}
    for key, entity in _controls(topics, info).items():
        command = topics.command_name(entity["cmd_t"])
        if permits is None or (command is not None and permits(command)):
            cmps[key] = entity
    cmps.update(_sensors(topics, info))
    cmps.update(_events(topics, info))
    if info.skills:
        cmps.update(_skills(topics, info))
    if info.llm_models:
        cmps["llm_model"] = _model_select(topics, info)
    if info.presence:
        cmps["presence"] = _entity(
            info, "binary_sensor", "presence", "Person present", stat_t=topics.state("presence"), dev_cla="occupancy"
        )
    return {
        "dev": {
            "ids": [info.device_id],
            "name": info.name,
            "mf": "Appliance project",
            "mdl": "Appliance",
            "sw": __version__,
        },
        "o": {"name": "appliance", "sw": __version__},
        "avty_t": topics.availability,
        "qos": 1,
        "cmps": cmps,
    }


def entity_id(platform: str, device_id: str, key: str) -> str:
    """``switch.kitchen_speaker_mute``: Home Assistant allows only [a-z0-9_] after the dot."""
    return f"{platform}.{re.sub(r'[^a-z0-9_]', '_', f'{device_id}_{key}'.lower())}"


def _entity(info: DeviceInfo, platform: str, key: str, name: str, **options: Any) -> dict[str, Any]:
    return {
        "p": platform,
        "uniq_id": f"{info.device_id}_{key}",
        "default_entity_id": entity_id(platform, info.device_id, key),
        "name": name,
        **options,
    }


def _controls(topics: Topics, info: DeviceInfo) -> dict[str, dict[str, Any]]:
    t = topics
    rooms = {"broadcast": _broadcast(topics, info)} if info.rooms else {}
    return rooms | {
        "mute": _entity(
            info, "switch", "mute", "Mute", cmd_t=t.command("mute"), stat_t=t.state("mute"), ic="mdi:microphone-off"
        ),
        "volume": _entity(
            info,
            "number",
            "volume",
            "Volume",
            cmd_t=t.command("volume"),
            stat_t=t.state("volume"),
            min=0,
            max=100,
            step=1,
            mode="slider",
            unit_of_meas="%",
        ),
        "wake_word": _entity(
            info,
            "select",
            "wake_word",
            "Wake word",
            cmd_t=t.command("wake_word"),
            stat_t=t.state("wake_word"),
            options=list(info.wake_words),
            ent_cat="config",
        ),
        "sensitivity": _entity(
            info,
            "number",
            "sensitivity",
            "Wake sensitivity",
            cmd_t=t.command("sensitivity"),
            stat_t=t.state("sensitivity"),
            min=0.01,
            max=0.99,
            step=0.01,
            mode="box",
            ent_cat="config",
        ),
        "listen": _entity(info, "button", "listen", "Listen", cmd_t=t.command("listen"), ic="mdi:microphone"),
        "restart": _entity(
            info, "button", "restart", "Restart", cmd_t=t.command("restart"), dev_cla="restart", ent_cat="config"
        ),
    }


def _broadcast(topics: Topics, info: DeviceInfo) -> dict[str, Any]:
    """``notify.send_message`` speaks the message in every room (``broadcast``), this one included."""
    return _entity(
        info,
        "notify",
        "broadcast",
        "Broadcast",
        cmd_t=topics.command("broadcast"),
        cmd_tpl='{"text": {{ value | tojson }}}',
        ic="mdi:bullhorn",
    )


def _model_select(topics: Topics, info: DeviceInfo) -> dict[str, Any]:
    """Choose the LLM among the installed ones: a live swap through ``models.use`` (optimistic: no state topic)."""
    return _entity(
        info,
        "select",
        "llm_model",
        "Language model",
        cmd_t=topics.command("models.use"),
        cmd_tpl='{"role": "llm", "model": "{{ value }}"}',
        options=list(info.llm_models),
        ent_cat="config",
        ic="mdi:brain",
    )


LLM_SERVER_STATES = ("ok", "backoff", "down", "unknown", "off")
"""``state/health``'s ``llm_server.state`` (see :class:`appliance.engines.llm.router.ServerHealth`)."""


def _sensors(topics: Topics, info: DeviceInfo) -> dict[str, dict[str, Any]]:
    t = topics
    health = t.state("health")
    out = {
        "stage": _entity(
            info, "sensor", "stage", "Stage", stat_t=t.state("stage"), dev_cla="enum", options=list(STAGES)
        ),
        "transcript": _entity(
            info,
            "sensor",
            "transcript",
            "Last transcript",
            stat_t=t.state("transcript"),
            json_attr_t=t.state("transcript/attributes"),
            ic="mdi:account-voice",
        ),
        "reply": _entity(
            info,
            "sensor",
            "reply",
            "Last reply",
            stat_t=t.state("reply"),
            json_attr_t=t.state("reply/attributes"),
            ic="mdi:message-reply-text",
        ),
        "uptime": _diagnostic(info, "uptime", "Uptime", health, "value_json.uptime_s", "s", "duration"),
        "memory": _diagnostic(info, "memory", "Memory", health, "value_json.memory_mb", "MB", "data_size"),
        "cpu_temperature": _diagnostic(
            info, "cpu_temperature", "CPU temperature", health, "value_json.cpu_temp_c", "°C", "temperature"
        ),
    }
    for key, name in LATENCIES:
        out[key] = _diagnostic(info, key, name, health, f"value_json.latency.{key}", "s", "duration")
    out["llm_server"] = _entity(
        info,
        "sensor",
        "llm_server",
        "LLM server",
        stat_t=health,
        val_tpl="{{ value_json.llm_server.state | default('off') }}",
        json_attr_t=health,
        json_attr_tpl="{{ value_json.llm_server | default({}) | tojson }}",
        dev_cla="enum",
        options=list(LLM_SERVER_STATES),
        ent_cat="diagnostic",
        ic="mdi:server-network",
    )
    return out


def _diagnostic(
    info: DeviceInfo, key: str, name: str, topic: str, value: str, unit: str, device_class: str
) -> dict[str, Any]:
    # A null renders as "None", which Home Assistant's MQTT sensor shows as unknown.
    return _entity(
        info,
        "sensor",
        key,
        name,
        stat_t=topic,
        val_tpl="{{ " + value + " }}",
        unit_of_meas=unit,
        dev_cla=device_class,
        stat_cla="measurement",
        ent_cat="diagnostic",
    )


def _events(topics: Topics, info: DeviceInfo) -> dict[str, dict[str, Any]]:
    t = topics
    return {
        "wake_event": _entity(
            info, "event", "wake_event", "Wake word", stat_t=t.event("wake"), event_types=["wake_detected"]
        ),
        "intent_event": _entity(
            info, "event", "intent_event", "Home control", stat_t=t.event("intent"), event_types=["intent_executed"]
        ),
        "error_event": _entity(info, "event", "error_event", "Error", stat_t=t.event("error"), event_types=["error"]),
    }


TIMER_ACTIONS = ("started", "finished", "cancelled", "snoozed", "missed")


def _skills(topics: Topics, info: DeviceInfo) -> dict[str, dict[str, Any]]:
    timers = topics.state("timers")
    return {
        "next_alarm": _entity(
            info,
            "sensor",
            "next_alarm",
            "Next alarm",
            stat_t=timers,
            val_tpl="{{ value_json.next_alarm }}",
            dev_cla="timestamp",
            ic="mdi:alarm",
        ),
        "active_timers": _entity(
            info,
            "sensor",
            "active_timers",
            "Active timers",
            stat_t=timers,
            val_tpl="{{ value_json.active }}",
            json_attr_t=timers,
            json_attr_tpl="{{ {'timers': value_json.timers} | tojson }}",
            ic="mdi:timer-outline",
        ),
        "timer_event": _entity(
            info, "event", "timer_event", "Timer", stat_t=topics.event("timer"), event_types=list(TIMER_ACTIONS)
        ),
    }
