"""The Home Assistant device-discovery payload (pure); test_mqtt.py checks it arrives on the broker."""

from __future__ import annotations

import json

from appliance.integrations.mqtt.discovery import DeviceInfo, discovery_payload
from appliance.integrations.mqtt.topics import Topics

T = Topics.for_device("appliance", "kitchen-speaker", "homeassistant")
INFO = DeviceInfo("kitchen-speaker", "Kitchen speaker", ("hey_jarvis", "alexa"))


def test_device_origin_and_availability():
    payload = discovery_payload(T, INFO)
    assert payload["dev"]["ids"] == ["kitchen-speaker"] and payload["dev"]["name"] == "Kitchen speaker"
    assert payload["o"]["name"] == "appliance" and payload["o"]["sw"]
    assert payload["avty_t"] == "appliance/kitchen-speaker/availability"
    assert len(json.dumps(payload)) < 20_000


def test_components():
    cmps = discovery_payload(T, INFO)["cmps"]
    platforms = {key: c["p"] for key, c in cmps.items()}
    assert platforms["mute"] == "switch" and platforms["volume"] == "number" and platforms["wake_word"] == "select"
    assert platforms["transcript"] == "sensor" and platforms["restart"] == "button"
    assert {k for k, p in platforms.items() if p == "event"} == {"wake_event", "intent_event", "error_event"}
    assert "presence" not in cmps  # no camera, no occupancy sensor
    for key, c in cmps.items():
        assert c["uniq_id"] == f"kitchen-speaker_{key}"
        assert c["default_entity_id"] == f"{c['p']}.kitchen_speaker_{key}"  # [a-z0-9_] only
        assert "object_id" not in c
    volume = {"min": 0, "max": 100, "mode": "slider", "cmd_t": "appliance/kitchen-speaker/cmd/volume"}
    assert cmps["volume"].items() >= volume.items()
    assert cmps["wake_word"]["options"] == ["hey_jarvis", "alexa"]
    assert cmps["transcript"]["json_attr_t"] == "appliance/kitchen-speaker/state/transcript/attributes"
    assert cmps["restart"]["dev_cla"] == "restart"
    assert cmps["wake_event"]["event_types"] == ["wake_detected"]
    latency = [c for c in cmps.values() if c.get("ent_cat") == "diagnostic" and c.get("unit_of_meas") == "s"]
    assert len(latency) >= 5 and all(c["stat_t"].endswith("/state/health") for c in latency)


def test_presence_when_a_camera_runs():
    cmps = discovery_payload(T, DeviceInfo("kitchen-speaker", "K", ("hey_jarvis",), presence=True))["cmps"]
    assert cmps["presence"]["p"] == "binary_sensor" and cmps["presence"]["dev_cla"] == "occupancy"


def test_the_llm_select_only_when_models_use_is_allowed_over_mqtt():
    assert "llm_model" not in discovery_payload(T, INFO)["cmps"]
    info = DeviceInfo("kitchen-speaker", "K", ("hey_jarvis",), llm_models=("smollm2-135m", "qwen2.5-1.5b-instruct"))
    select = discovery_payload(T, info)["cmps"]["llm_model"]
    assert select["p"] == "select" and select["options"] == ["smollm2-135m", "qwen2.5-1.5b-instruct"]
    assert select["cmd_t"] == "appliance/kitchen-speaker/cmd/models.use"
    rendered = select["cmd_tpl"].replace("{{ value }}", "qwen2.5-1.5b-instruct")  # as Home Assistant renders it
    assert json.loads(rendered) == {"role": "llm", "model": "qwen2.5-1.5b-instruct"}


def test_the_lan_llm_server_state_is_a_diagnostic_enum_from_health():
    cmps = discovery_payload(T, DeviceInfo("kitchen-speaker", "K", ("hey_jarvis",)))["cmps"]
    sensor = cmps["llm_server"]
    assert sensor["stat_t"] == "appliance/kitchen-speaker/state/health" and sensor["ent_cat"] == "diagnostic"
    assert sensor["dev_cla"] == "enum" and set(sensor["options"]) == {"ok", "backoff", "down", "unknown", "off"}
