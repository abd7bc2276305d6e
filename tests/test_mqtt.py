"""The appliance on a real Mosquitto (started per test): state, discovery, every command, expiry, floods.

The appliance runs in-process with the real default engines, listening to
silence; a paho "probe" plays Home Assistant.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time

import paho.mqtt.client as mqtt
import pytest

from appliance.core.events import ErrorRaised, Reply
from appliance.settings import WyomingSettings

from .fakes import until
from .mqtt_support import DEVICE, ROOT, Probe, in_thread, mqtt_settings, running

pytestmark = [pytest.mark.integration, pytest.mark.mqtt]


async def test_announces_itself_with_retained_state_and_discovery(tmp_path, mosquitto, engines, registry):
    settings = mqtt_settings(tmp_path / "state", mosquitto.port)
    async with running(settings, engines, registry) as app:
        await until(lambda: app.mqtt is not None and app.mqtt.connected, what="connected")
        with Probe(mosquitto.port) as early:
            await early.next(f"{ROOT}/state/health")  # the last of the announcement
        with Probe(mosquitto.port) as ha:  # a late subscriber gets everything retained
            online = await ha.next(f"{ROOT}/availability")
            assert online.payload == b"online" and online.retain
            config = await ha.next(f"homeassistant/device/{DEVICE}/config")
            assert config.retain
            cmps = config.json()["cmps"]
            assert cmps["mute"]["cmd_t"] == f"{ROOT}/cmd/mute" and cmps["mute"]["stat_t"] == f"{ROOT}/state/mute"
            assert cmps["volume"]["p"] == "number" and cmps["listen"]["p"] == "button"
            assert "restart" not in cmps  # not on MQTT unless opted in (mqtt.allowed_commands)
            assert config.json()["dev"]["name"] == "Test speaker"
            expected = {"mute": b"OFF", "volume": b"80", "stage": b"idle", "wake_word": b"hey_jarvis"}
            for name, value in expected.items():
                msg = await ha.next(f"{ROOT}/state/{name}")
                assert msg.payload == value and msg.retain, name
            health = (await ha.next(f"{ROOT}/state/health")).json()
            assert health["uptime_s"] >= 0 and health["memory_mb"] > 0 and "stt_s" in health["latency"]
            assert health["llm_server"] == {"url": None, "state": "off"}  # no llm.server_url: local only
        assert app.status()["mqtt"]["connected"] is True


async def test_health_shows_the_integrations_that_are_on(tmp_path, mosquitto, engines, registry):
    settings = mqtt_settings(tmp_path / "state", mosquitto.port)
    settings = dataclasses.replace(settings, wyoming=WyomingSettings(enabled=True, port=0, announce=False))
    async with running(settings, engines, registry) as app:
        await until(lambda: app.mqtt is not None and app.mqtt.connected, what="connected")
        with Probe(mosquitto.port) as ha:
            health = (await ha.next(f"{ROOT}/state/health")).json()
        assert health["integrations"] == {"wyoming": {"clients": 0}}  # off ones are absent, never a credential
        assert app.status()["wyoming"]["clients"] == 0


# (command, payload, ok, what the answer or error must contain)
COMMANDS = [
    ("status", b"", True, {"device_id": DEVICE}),
    ("volume", b"42", True, {"volume": 42}),
    ("volume", b'{"level": 55}', True, {"volume": 55}),
    ("volume", b"300", False, "bad-arguments"),
    ("volume", b"loud", False, "bad-arguments"),
    ("mute", b"ON", True, {"muted": True}),
    ("listen", b"", False, "muted"),
    ("mute", b"OFF", True, {"muted": False}),
    ("mute", b"maybe", False, "bad-arguments"),
    ("sensitivity", b"0.6", True, {"sensitivity": 0.6}),
    ("sensitivity", b"2", False, "bad-arguments"),
    ("sensitivity", b"0.5", True, {"sensitivity": 0.5}),  # the engines are shared with later tests
    ("wake_word", b"alexa", True, {"models": ["alexa"]}),
    ("wake_word", b"siri", False, "bad-arguments"),
    ("wake_word", b"hey_jarvis", True, {"models": ["hey_jarvis"]}),
    ("say", b"Hello there.", True, {"spoken": "Hello there.", "outcome": "answered"}),
    ("say", b'{"text": ""}', False, "bad-arguments"),
    ("say", b'{"text": ' + json.dumps("x" * 2001).encode() + b"}", False, "too-long"),
    ("ask", b'{"text": "What is two plus two?", "speak": false}', True, {"outcome": "answered"}),
    ("ask", b'{"text": 5}', False, "bad-arguments"),
    ("listen", b"", True, {}),
    ("stop", b"PRESS", True, {}),
    ("reload", b"", False, "forbidden"),  # opt-in only (mqtt.allowed_commands)
    ("memory.list", b"", False, "forbidden"),
    ("fly", b"", False, "forbidden"),
    ("volume", b'{"level": ', False, "bad-json"),
    ("say", b"\xff\xfe", False, "bad-payload"),
]


async def test_every_command_topic_with_good_and_bad_payloads(tmp_path, mosquitto, engines, registry):
    settings = mqtt_settings(tmp_path / "state", mosquitto.port)
    async with running(settings, engines, registry) as app:
        await until(lambda: app.mqtt is not None and app.mqtt.connected, what="connected")
        with Probe(mosquitto.port) as ha:
            for command, payload, ok, expect in COMMANDS:
                start = ha.mark()
                answer = await ha.ask(command, payload, timeout=60)
                assert answer["ok"] is ok and answer["command"] == command, (command, payload, answer)
                if ok:
                    assert answer["result"].items() >= expect.items(), (command, answer)  # type: ignore[union-attr]
                    continue
                assert answer["error"]["code"] == expect, (command, payload, answer)
                error = await ha.next(f"{ROOT}/event/error", after=start)
                assert error.json()["code"] == expect and error.json()["event_type"] == "error"
            assert (await ha.next(f"{ROOT}/state/volume", lambda m: m.payload == b"55")).payload == b"55"
            assert (await ha.next(f"{ROOT}/state/sensitivity", lambda m: m.payload == b"0.5")) is not None
            assert app.sink.volume == 55 and not app.frontend.muted


async def test_v311_clients_name_their_reply_topic(tmp_path, mosquitto, engines, registry):
    settings = mqtt_settings(tmp_path / "state", mosquitto.port)
    async with running(settings, engines, registry) as app:
        await until(lambda: app.mqtt is not None and app.mqtt.connected, what="connected")
        with Probe(mosquitto.port, protocol=mqtt.MQTTv311) as node_red:
            start = node_red.mark()
            node_red.send(f"{ROOT}/cmd/volume", json.dumps({"level": 12, "reply_to": True, "id": 9}))
            reply = await node_red.next(f"{ROOT}/cmd/volume/reply", after=start)
            assert reply.json() == {"ok": True, "command": "volume", "result": {"volume": 12}, "id": 9}
            node_red.send(f"{ROOT}/cmd/volume", json.dumps({"level": 1, "reply_to": "homeassistant/device/x/config"}))
            error = await node_red.next(f"{ROOT}/event/error", after=start)
            assert error.json()["code"] == "bad-reply-topic"
            assert not node_red.on("homeassistant/device/x/config") and app.sink.volume == 12


async def test_retained_commands_are_not_replayed(tmp_path, mosquitto, engines, registry):
    """A command someone published retained would otherwise run again on every reconnect."""
    with Probe(mosquitto.port) as ha:
        await in_thread(ha.publish, f"{ROOT}/cmd/mute", b"ON", retain=True)
        settings = mqtt_settings(tmp_path / "state", mosquitto.port)
        async with running(settings, engines, registry) as app:
            error = await ha.next(f"{ROOT}/event/error", lambda m: m.json()["code"] == "retained-command")
            assert "mute" in error.json()["message"] and not app.frontend.muted
        await in_thread(ha.publish, f"{ROOT}/cmd/mute", b"", retain=True)  # clear it


async def test_discovery_and_state_again_when_home_assistant_comes_online(tmp_path, mosquitto, engines, registry):
    settings = mqtt_settings(tmp_path / "state", mosquitto.port, birth_delay_max_s=1.0)
    async with running(settings, engines, registry) as app:
        await until(lambda: app.mqtt is not None and app.mqtt.connected, what="connected")
        with Probe(mosquitto.port) as ha:
            await ha.next(f"{ROOT}/state/health")
            start, sent = ha.mark(), time.monotonic()
            await in_thread(ha.publish, "homeassistant/status", b"online", qos=0)
            config = await ha.next(f"homeassistant/device/{DEVICE}/config", after=start, timeout=5)
            assert config.at - sent <= 1.0 + 0.5  # within the random 0..birth_delay_max_s delay
            await ha.next(f"{ROOT}/state/mute", after=start, timeout=5)
            await ha.next(f"{ROOT}/state/volume", after=start, timeout=5)


async def test_expired_commands_are_not_executed(tmp_path, mosquitto, engines, registry):
    settings = mqtt_settings(tmp_path / "state", mosquitto.port, command_max_age_s=30)
    async with running(settings, engines, registry) as app:
        await until(lambda: app.mqtt is not None and app.mqtt.connected, what="connected")
        with Probe(mosquitto.port) as ha:
            old = json.dumps({"text": "This is old news.", "ts": time.time() - 120})
            answer = await ha.ask("say", old)
            assert answer["error"]["code"] == "expired"
            fresh = json.dumps({"level": 20, "ts": time.time()})
            assert (await ha.ask("volume", fresh))["ok"]
            # a say whose v5 expiry runs out while it waits behind another one is dropped
            long_say = asyncio.create_task(ha.ask("say", b"One two three four five six seven eight nine ten.", 60))
            await until(lambda: app.pipeline.turn is not None, what="first say speaking")
            late = await ha.ask("say", b"Too late.", 60, MessageExpiryInterval=1)
            assert late["error"]["code"] == "expired"
            assert (await asyncio.wait_for(long_say, 60))["ok"]
        spoken = [r.reply for r in app.pipeline.history]
        assert "This is old news." not in spoken and "Too late." not in spoken


async def test_commands_queued_by_the_broker_expire_there(tmp_path, mosquitto, engines, registry):
    """A persistent session keeps commands for a restarting appliance; v5 expiry drops stale ones."""
    settings = mqtt_settings(tmp_path / "state", mosquitto.port, session_expiry_s=300)
    async with running(settings, engines, registry) as app:
        await until(lambda: app.mqtt is not None and app.mqtt.connected, what="connected")
    with Probe(mosquitto.port) as ha:  # the appliance is down now; the broker holds its session
        await in_thread(ha.publish, f"{ROOT}/cmd/say", b"Stale greeting.", MessageExpiryInterval=1)
        await in_thread(ha.publish, f"{ROOT}/cmd/volume", b"33")
        await asyncio.sleep(1.5)  # the say's expiry must pass while the appliance is away
        async with running(settings, engines, registry) as app:
            await until(lambda: app.sink.volume == 33, what="queued volume command delivered")
            await ha.next(f"{ROOT}/state/volume", lambda m: m.payload == b"33")
            assert all(r.reply != "Stale greeting." for r in app.pipeline.history)


async def test_say_flood_is_queued_to_a_bound_then_refused(tmp_path, mosquitto, engines, registry):
    settings = mqtt_settings(tmp_path / "state", mosquitto.port, speech_queue=2)
    async with running(settings, engines, registry) as app:
        await until(lambda: app.mqtt is not None and app.mqtt.connected, what="connected")
        with Probe(mosquitto.port) as ha:
            answers = await asyncio.gather(*(ha.ask("say", f"Number {i}.".encode(), 90) for i in range(8)))
        codes = [a["error"]["code"] for a in answers if not a["ok"]]
        assert sum(a["ok"] for a in answers) >= 2 and codes and set(codes) == {"busy"}
        assert len(answers) == 8  # every command answered or refused
        assert app.status()["mqtt"]["commands"]["refused"] == len(codes)


async def test_restart_command_stops_the_daemon_for_a_restart(tmp_path, mosquitto, engines, registry):
    settings = mqtt_settings(tmp_path / "state", mosquitto.port, allowed_commands=["restart"])
    async with running(settings, engines, registry) as app:
        await until(lambda: app.mqtt is not None and app.mqtt.connected, what="connected")
        with Probe(mosquitto.port) as ha:
            assert (await ha.ask("restart", b"PRESS"))["result"] == {"restarting": True}
            await until(lambda: app._stop.is_set(), what="stop requested")
            offline = await ha.next(f"{ROOT}/availability", lambda m: m.payload == b"offline")
            assert offline.payload == b"offline"
    assert app.exit_code == 75


async def test_oversized_payloads_are_not_published(tmp_path, mosquitto, engines, registry):
    settings = mqtt_settings(tmp_path / "state", mosquitto.port, max_packet_bytes=4096)
    async with running(settings, engines, registry) as app:
        await until(lambda: app.mqtt is not None and app.mqtt.connected, what="connected")
        with Probe(mosquitto.port) as ha:
            start = ha.mark()
            app.bus.publish(Reply(text="word " * 2000))
            error = await ha.next(f"{ROOT}/event/error", after=start)
            assert error.json()["code"] == "payload-too-large"
            app.bus.publish(ErrorRaised(code="marker", message="after"))
            await ha.next(f"{ROOT}/event/error", lambda m: m.json()["code"] == "marker", after=start)
            assert not [m for m in ha.messages[start:] if m.topic == f"{ROOT}/event/reply"]
            assert app.mqtt is not None and app.mqtt.connected  # the broker did not disconnect us


async def test_without_a_reachable_broker_the_voice_loop_carries_on(tmp_path, engines, registry, caplog):
    from appliance.integrations.mqtt.broker import free_port

    settings = mqtt_settings(tmp_path / "state", free_port())  # nothing listens there
    async with running(settings, engines, registry) as app:
        result = await asyncio.wait_for(app.commands.execute("ask", {"text": "Hello", "speak": False}), 60)
        assert result["outcome"] == "answered"
        status = app.status()["mqtt"]
        assert status["connected"] is False and "unreachable" in status["last_error"]
        await until(lambda: app.mqtt is not None and len(app.mqtt.outbox) >= 1, what="reply kept in the outbox")
    assert "Connection refused" in caplog.text


async def test_a_command_flood_is_answered_or_refused_and_the_daemon_carries_on(tmp_path, mosquitto, engines, registry):
    from appliance.bench.mqtt import FLOOD_MIX
    from appliance.bench.mqtt_loadgen import run_flood

    # Rate buckets are per command (six in the mix): 50/s + a burst of 50 each.
    settings = mqtt_settings(tmp_path / "state", mosquitto.port, command_rate=50.0, command_burst=50)
    async with running(settings, engines, registry) as app:
        await until(lambda: app.mqtt is not None and app.mqtt.connected, what="connected")
        load = await asyncio.to_thread(run_flood, mosquitto.port, ROOT, 1000.0, 2.0, FLOOD_MIX)
        assert load["sent"] == 2000 and load["answered"] == 2000, load["codes"]  # every one answered or refused
        handled = sum(n for code, n in load["codes"].items() if code != "rate-limited")
        # over the rate: refused; within it: handled, each with its own
        # outcome (ok, busy while an ask runs, bad arguments from the mix)
        assert load["codes"]["rate-limited"] > 800 and handled > 200 and load["codes"]["ok"] > 50, load["codes"]
        assert app.supervisor.alive("pipeline") and app.supervisor.alive("audio") and app.mqtt.connected
        assert app.frontend.last_frame_mono > 0 and app.status()["mqtt"]["publish_dropped"] == 0
        answer = await asyncio.wait_for(app.commands.execute("ask", {"text": "Hello", "speak": False}), 60)
        assert answer["outcome"] == "answered"


SKILL_COMMANDS = [
    ("timer.start", b'{"duration_s": 600, "name": "pasta"}', True, {}),
    ("timer.start", b'{"duration_s": -5}', False, "bad-arguments"),
    ("timer.start", b'{"duration_s": "\\u00b2"}', False, "bad-arguments"),
    ("timer.pause", b'{"name": "pasta"}', True, {}),
    ("timer.resume", b'{"name": "pasta"}', True, {}),
    ("timer.add", b'{"name": "pasta", "seconds": 60}', True, {}),
    ("timer.add", b'{"name": "pasta"}', False, "bad-arguments"),
    ("alarm.set", b'{"time": "07:30", "repeat": "weekdays"}', True, {}),
    ("alarm.set", b'{"time": "25:99"}', False, "bad-arguments"),
    ("alarm.snooze", b'{"minutes": 500}', False, "bad-arguments"),
    ("reminder.set", b'{"text": "take the bins out", "in_s": 3600}', True, {}),
    ("reminder.set", b'{"text": ""}', False, "bad-arguments"),
    ("list.add", b'{"list": "shopping", "items": ["eggs", "butter"]}', True, {"items": ["eggs", "butter"]}),
    ("list.remove", b'{"list": "shopping", "items": "eggs"}', True, {"items": ["butter"]}),
    ("list.show", b'{"list": "shopping"}', True, {"items": ["butter"]}),
    ("list.add", b'{"list": "garage", "items": ["x"]}', False, "bad-arguments"),
    ("list.clear", b'{"list": "shopping"}', True, {}),
    ("timers.list", b"", True, {}),
    ("timer.cancel", b'{"id": "seven"}', False, "bad-arguments"),
    ("timer.cancel", b'{"all": true, "kind": "any"}', True, {}),
]


async def _retained(port: int, topic: str, predicate, timeout: float = 10.0):
    """The retained message a new subscriber to ``topic`` gets, once it satisfies ``predicate``."""
    deadline = time.monotonic() + timeout
    while True:
        with Probe(port, topics=(topic,)) as late:
            got = await late.next(topic)
        if got.retain and predicate(got):
            return got
        assert time.monotonic() < deadline, f"retained {topic} never became what was expected: {got.payload!r}"
        await asyncio.sleep(0.1)


async def test_skill_commands_events_and_retained_state_over_mqtt(tmp_path, mosquitto, engines, registry):
    settings = mqtt_settings(tmp_path / "state", mosquitto.port)
    async with running(settings, engines, registry) as app:
        await until(lambda: app.mqtt is not None and app.mqtt.connected, what="connected")
        with Probe(mosquitto.port) as ha:
            for command, payload, ok, expect in SKILL_COMMANDS:
                answer = await ha.ask(command, payload, timeout=30)
                assert answer["ok"] is ok, (command, payload, answer)
                if ok:
                    assert answer["result"].items() >= expect.items(), (command, answer)  # type: ignore[union-attr]
                else:
                    assert answer["error"]["code"] == expect, (command, payload, answer)
            started = await ha.next(f"{ROOT}/event/timer", lambda m: m.json()["action"] == "started")
            assert started.json()["name"] == "pasta" and started.json()["event_type"] == "started"
            cancelled = await ha.next(f"{ROOT}/event/timer", lambda m: m.json()["action"] == "cancelled")
            assert cancelled.json()["kind"] in ("timer", "alarm", "reminder")
            # What a hub that subscribes now is handed: the retained state once the commands are done (this
            # probe may have subscribed before or after the start-up state, so its copies can be live or retained).
            timers = await _retained(mosquitto.port, f"{ROOT}/state/timers", lambda m: m.json()["timers"] == [])
            assert timers.json()["active"] == 0 and timers.json()["next_alarm"] is None
            lists = f"{ROOT}/state/lists"
            await _retained(mosquitto.port, lists, lambda m: m.json()["lists"].get("shopping") == [])
            cmps = (await ha.next(f"homeassistant/device/{DEVICE}/config")).json()["cmps"]
            assert cmps["next_alarm"]["dev_cla"] == "timestamp" and cmps["timer_event"]["p"] == "event"
