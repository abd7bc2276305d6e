"""Bus events → MQTT publications (pure): timers, feature state, and a forget clearing what was said."""

from __future__ import annotations

import json

from appliance.core.events import Forgotten, RetainedState
from appliance.integrations.mqtt.outbound import health_payload, publications
from appliance.integrations.mqtt.topics import Topics
from appliance.skills.events import TimerAction, TimerEvent

T = Topics.for_device("appliance", "kitchen", "homeassistant")


def test_a_timer_event_goes_out_durable_with_its_home_assistant_event_type():
    [pub] = publications(T, TimerEvent(3, "timer", "pasta", TimerAction.FINISHED, 1000.0))
    assert pub.topic == "appliance/kitchen/event/timer" and pub.durable
    body = json.loads(pub.payload)
    assert body["event_type"] == "finished" and body["name"] == "pasta" and body["id"] == 3 and body["due"] == 1000.0


def test_feature_state_is_retained_under_its_key():
    [pub] = publications(T, RetainedState(key="timers", payload='{"timers": [], "active": 0, "next_alarm": null}'))
    assert (pub.topic, pub.retain, json.loads(pub.payload)["active"]) == ("appliance/kitchen/state/timers", True, 0)


def test_forgetting_deletes_the_retained_transcript_and_reply():
    pubs = publications(T, Forgotten(items=2))
    assert {p.topic for p in pubs} == {
        "appliance/kitchen/state/transcript",
        "appliance/kitchen/state/transcript/attributes",
        "appliance/kitchen/state/reply",
        "appliance/kitchen/state/reply/attributes",
    }
    assert all(p.payload == b"" and p.retain for p in pubs)  # an empty retained message deletes one


def test_health_carries_the_lan_llm_server_when_status_has_it():
    server = {"url": "http://gpu-box.lan:8080/v1", "state": "backoff", "last_error": "server-timeout", "retry_in_s": 4}
    assert json.loads(health_payload(12.0, {}, 0, server))["llm_server"] == server
    assert "llm_server" not in json.loads(health_payload(12.0, {}, 0))
