"""Hostile publishers on the home broker: the real appliance and a real Mosquitto.

Every payload here was measured to hurt the daemon before the one decoder and
the allowlist (issue 12): each now gets a coded answer, and ``status`` still
answers afterwards.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random

import pytest

from .fakes import until
from .mqtt_support import DEVICE, ROOT, Probe, mqtt_settings, running
from .test_payload import fuzz_payloads

pytestmark = [pytest.mark.integration, pytest.mark.mqtt]


@contextlib.asynccontextmanager
async def wake_kept(app, ha: Probe):
    """Put the shared engines' wake words and sensitivity back (later tests say "Hey Jarvis")."""
    before = app.status()
    try:
        yield
    finally:
        models = json.dumps({"models": list(before["wake_words"])})
        assert (await ha.ask("wake_word", models, timeout=30))["ok"]
        assert (await ha.ask("sensitivity", json.dumps({"value": before["sensitivity"]}), timeout=30))["ok"]


HOSTILE = [
    ("say", '{"text": "hi \\ud800"}', "bad-payload"),
    ("volume", "[" * 5000 + "]" * 5000, "bad-payload"),
    ("wake_word", json.dumps({"models": ["alexa"] * 7000}), "too-long"),
    ("memory.list", "", "forbidden"),
    ("memory.export", '{"path": "/tmp/x"}', "forbidden"),
    ("camera", "ON", "forbidden"),
    ("snapshot", "", "forbidden"),
    ("debug.dump", "", "forbidden"),
    ("home.devices", "", "forbidden"),
]


async def test_hostile_payloads_get_coded_answers_and_status_keeps_answering(tmp_path, mosquitto, engines, registry):
    settings = mqtt_settings(tmp_path / "state", mosquitto.port)
    async with running(settings, engines, registry) as app:
        await until(lambda: app.mqtt is not None and app.mqtt.connected, what="connected")
        with Probe(mosquitto.port) as ha:
            for command, body, code in HOSTILE:
                answer = await ha.ask(command, body, timeout=30)
                assert answer["ok"] is False and answer["error"]["code"] == code, (command, answer)
            start = ha.mark()
            ha.send(f"{ROOT}/cmd/status", json.dumps({"reply_to": True, "id": "\ud800"}, ensure_ascii=True))
            refused = await ha.next(f"{ROOT}/cmd/status/reply", after=start)
            assert refused.json()["error"]["code"] == "bad-payload"
            assert "id" not in refused.json()  # an id that cannot be echoed is left out, the refusal still goes
            ha.send(f"{ROOT}/cmd/volume", json.dumps({"level": 3, "reply_to": "home/kitchen/light/set"}))
            error = await ha.next(f"{ROOT}/event/error", lambda m: m.json()["code"] == "bad-reply-topic", after=start)
            assert "replies go only to" in error.json()["message"]
            assert not ha.on("home/kitchen/light/set")
            assert (await ha.ask("status"))["result"]["device_id"] == DEVICE


async def test_a_unicode_digit_is_bad_arguments_not_a_traceback(tmp_path, mosquitto, engines, registry):
    settings = mqtt_settings(tmp_path / "state", mosquitto.port)
    async with running(settings, engines, registry) as app:
        await until(lambda: app.mqtt is not None and app.mqtt.connected, what="connected")
        with Probe(mosquitto.port) as ha:
            answer = await ha.ask("volume", '{"level": "²"}', timeout=30)
            assert answer["error"]["code"] == "bad-arguments", answer


async def test_a_wake_word_list_is_deduplicated(tmp_path, mosquitto, engines, registry):
    settings = mqtt_settings(tmp_path / "state", mosquitto.port)
    async with running(settings, engines, registry) as app:
        await until(lambda: app.mqtt is not None and app.mqtt.connected, what="connected")
        with Probe(mosquitto.port) as ha:
            async with wake_kept(app, ha):
                many = await ha.ask("wake_word", json.dumps({"models": ["alexa"] * 30}), timeout=30)
                assert many["ok"] and many["result"]["models"] == ["alexa"], many
                too_many = await ha.ask("wake_word", json.dumps({"models": ["alexa"] * 7000}), timeout=30)
                assert too_many["error"]["code"] == "too-long", too_many


async def test_a_status_flood_does_not_block_mute(tmp_path, mosquitto, engines, registry):
    settings = mqtt_settings(tmp_path / "state", mosquitto.port, command_rate=1.0, command_burst=5)
    async with running(settings, engines, registry) as app:
        await until(lambda: app.mqtt is not None and app.mqtt.connected, what="connected")
        with Probe(mosquitto.port) as ha:
            for _ in range(20):
                ha.send(f"{ROOT}/cmd/status", b"garbage {")  # decoding failures cost tokens too
            limited = await ha.ask("status", timeout=30)
            assert limited["error"]["code"] == "rate-limited"
            muted = await ha.ask("mute", "ON", timeout=30)
            assert muted["ok"] and muted["result"]["muted"] is True
            assert app.mqtt.network_alive()  # type: ignore[union-attr]


async def test_remote_listen_can_be_turned_off_and_opt_ins_are_advertised(tmp_path, mosquitto, engines, registry):
    settings = mqtt_settings(tmp_path / "state", mosquitto.port, allow_listen=False, allowed_commands=["restart"])
    async with running(settings, engines, registry) as app:
        await until(lambda: app.mqtt is not None and app.mqtt.connected, what="connected")
        with Probe(mosquitto.port) as ha:
            assert (await ha.ask("listen"))["error"]["code"] == "forbidden"
            cmps = (await ha.next(f"homeassistant/device/{DEVICE}/config")).json()["cmps"]
            assert "listen" not in cmps and cmps["restart"]["p"] == "button"


def rss_mb() -> float:
    with open("/proc/self/status") as handle:
        line = next(x for x in handle if x.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


async def test_fuzzed_payloads_over_every_command_topic(tmp_path, mosquitto, engines, registry, caplog):
    """10,000 fuzzed payloads over every command topic: every one answered or refused with a code, no traceback."""
    settings = mqtt_settings(tmp_path / "state", mosquitto.port, command_rate=10_000.0, command_burst=100_000)
    commands = [
        "say", "ask", "listen", "stop", "mute", "volume", "wake_word", "sensitivity", "status",
        "timer.set", "memory.list", "memory.forget", "camera", "reload", "restart", "debug.dump", "fly",
    ]  # fmt: skip
    rng = random.Random(5)
    caplog.set_level(logging.WARNING)
    async with running(settings, engines, registry) as app:
        await until(lambda: app.mqtt is not None and app.mqtt.connected, what="connected")
        router = app.mqtt.router  # type: ignore[union-attr]
        with Probe(mosquitto.port, topics=(f"{ROOT}/cmd/+/reply", "test/replies/#")) as ha:
            for command, body in (("ask", '{"text": "Hi.", "speak": false}'), ("say", "Hi."), ("status", "")):
                assert (await ha.ask(command, body, timeout=60))["ok"]  # warm: the first LLM/TTS use allocates
            before = rss_mb()
            async with wake_kept(app, ha):  # the fuzz may set other wake words on the shared engines
                payloads = list(fuzz_payloads(rng, 10_000))
                for raw in payloads:
                    ha.send(f"{ROOT}/cmd/{rng.choice(commands)}", raw)
                await until(lambda: router.counters.received >= len(payloads), timeout=120, what="all received")
                await until(
                    lambda: router.counters.answered + router.counters.refused >= router.counters.received,
                    timeout=120,
                    what="every command answered or refused",
                )
                assert (await ha.ask("status", timeout=30))["ok"]
        grown = rss_mb() - before
        counters = vars(router.counters)
        print(f"mqtt fuzz: {len(payloads)} payloads, {counters}, RSS +{grown:.1f} MB, {ha.mark()} replies")
    tracebacks = [r for r in caplog.records if r.exc_info]
    print(f"mqtt fuzz: tracebacks {len(tracebacks)}")
    assert not tracebacks, tracebacks[0].getMessage()
    assert grown <= 20


def test_a_paho_callback_that_raises_is_counted_and_paho_keeps_running():
    import asyncio

    from appliance.integrations.mqtt.client import MqttClient
    from appliance.settings import MqttSettings

    class Broken:
        @property
        def topic(self) -> str:
            raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")  # paho decoding a bad topic

    loop = asyncio.new_event_loop()
    try:
        client = MqttClient(
            MqttSettings(host="127.0.0.1"),
            client_id="t",
            will_topic="x/availability",
            subscriptions=list,
            listener=None,  # type: ignore[arg-type]
            loop=loop,
        )
        client._client.on_message(client._client, None, Broken())  # what paho's thread would call
        assert client.callback_errors == 1
        assert client.network_alive is False  # not started: the watchdog would see it
    finally:
        loop.close()


async def test_packet_size_limits_both_ways(tmp_path, engines, registry):
    from appliance.integrations.mqtt.broker import Mosquitto

    with Mosquitto(tmp_path / "broker", max_packet_size=4096) as broker:
        settings = mqtt_settings(tmp_path / "state", broker.port, max_inbound_packet_bytes=2048)
        async with running(settings, engines, registry) as app:
            await until(lambda: app.mqtt is not None and app.mqtt.connected, what="connected")
            bridge = app.mqtt
            assert bridge is not None and bridge.max_packet_bytes == 4096  # the broker's CONNACK limit wins
            with Probe(broker.port) as ha:
                start = ha.mark()
                assert bridge._publish(f"{ROOT}/event/test", b"x" * 4100) is None  # over the broker's limit
                error = await ha.next(
                    f"{ROOT}/event/error", lambda m: m.json()["code"] == "payload-too-large", after=start
                )
                assert "4096-byte packet limit" in error.json()["message"]
                received = bridge.router.counters.received
                ha.send(f"{ROOT}/cmd/say", json.dumps({"text": "x" * 2100}))  # > 2048 bytes on the wire
                assert (await ha.ask("volume", "7"))["ok"]  # a small one still arrives (after the big one)
                assert bridge.router.counters.received == received + 1  # the broker never delivered the big one


async def test_forget_clears_the_retained_text_on_the_broker(tmp_path, mosquitto, engines, registry):
    settings = mqtt_settings(tmp_path / "state", mosquitto.port)
    async with running(settings, engines, registry) as app:
        await until(lambda: app.mqtt is not None and app.mqtt.connected, what="connected")
        with Probe(mosquitto.port) as ha:
            assert (await ha.ask("ask", '{"text": "What is two plus two?", "speak": false}', timeout=60))["ok"]
            await ha.next(f"{ROOT}/state/reply")  # the retained last reply (an ask has no transcript)
            assert app.mqtt.forget_text_state() == 4  # type: ignore[union-attr]
            await ha.next(f"{ROOT}/state/reply/attributes", lambda m: m.payload == b"")
        with Probe(mosquitto.port) as late:  # a new subscriber gets no retained text
            await late.next(f"{ROOT}/state/health")
            assert not late.on(f"{ROOT}/state/transcript") and not late.on(f"{ROOT}/state/reply")
