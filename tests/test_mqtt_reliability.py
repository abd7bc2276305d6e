"""Broker outages and daemon restarts: reconnect, renewed subscriptions, no QoS 1 event lost."""

from __future__ import annotations

import asyncio
import json
import sqlite3

import paho.mqtt.client as mqtt
import pytest

from appliance.bench.rooms_relay import DelayRelay
from appliance.core.events import ErrorRaised
from appliance.integrations.mqtt.broker import Mosquitto, free_port

from .fakes import until
from .mqtt_support import ROOT, Probe, mqtt_settings, running

pytestmark = [pytest.mark.integration, pytest.mark.mqtt]


def outage_events(app, first: int, count: int) -> None:
    for i in range(first, first + count):
        app.bus.publish(ErrorRaised(code="outage-test", message=str(i), stage="test"))


def received_numbers(probe: Probe) -> set[int]:
    return {int(m.json()["message"]) for m in probe.on(f"{ROOT}/event/error") if m.json()["code"] == "outage-test"}


async def test_reconnects_after_a_broker_restart_and_loses_no_event(tmp_path, engines, registry):
    broker = Mosquitto(tmp_path / "broker", persistence=True).start()
    # clean sessions: the subscriptions must be renewed by the appliance itself after the restart
    settings = mqtt_settings(tmp_path / "state", broker.port, session_expiry_s=0)
    # a subscriber with a persistent session on a persistent broker: it gets what was queued for it
    probe = Probe(broker.port, protocol=mqtt.MQTTv311, client_id="ha-persistent", clean=False, topics=(f"{ROOT}/#",))
    try:
        with probe:
            async with running(settings, engines, registry) as app:
                assert app.mqtt is not None
                await until(lambda: app.mqtt.connected, what="connected")
                outage_events(app, 0, 10)
                await until(lambda: received_numbers(probe) == set(range(10)), what="events before the outage")
                broker.stop()  # SIGTERM: Mosquitto saves its sessions
                await until(lambda: not app.mqtt.connected, what="disconnect noticed")
                outage_events(app, 10, 40)
                # (any of the first ten whose PUBACK the broker took down with it are still there too)
                await until(lambda: len(app.mqtt.outbox) >= 40, what="events kept in the outbox")
                broker = Mosquitto(tmp_path / "broker", port=broker.port, persistence=True).start()
                await until(lambda: app.mqtt.connected, timeout=20, what="reconnected")
                await until(lambda: len(app.mqtt.outbox) == 0, timeout=20, what="outbox drained")
                await until(lambda: received_numbers(probe) == set(range(50)), timeout=20, what="every event received")
                start = probe.mark()  # the subscriptions were renewed on reconnect:
                probe.send(f"{ROOT}/cmd/volume", json.dumps({"level": 21, "reply_to": True}))
                answer = await probe.next(f"{ROOT}/cmd/volume/reply", after=start)
                assert answer.json()["ok"] and app.sink.volume == 21
                online = await probe.next(f"{ROOT}/availability", lambda m: m.payload == b"online", after=0)
                assert online.payload == b"online"
    finally:
        broker.stop()


async def test_reconnects_after_a_backoff_longer_than_the_keepalive(tmp_path, engines, registry):
    """paho stamps the last traffic before the backoff wait: a wait past the keepalive used to
    close every new connection before its CONNACK, so the appliance never came back."""
    broker = Mosquitto(tmp_path / "broker").start()
    relay = DelayRelay(broker.port, 0.05).start()  # the CONNACK is never back before paho's first look
    settings = mqtt_settings(tmp_path / "state", relay.port, keepalive_s=5, reconnect_min_s=11.0, reconnect_max_s=11.0)
    try:
        async with running(settings, engines, registry) as app:
            assert app.mqtt is not None
            await until(lambda: app.mqtt.connected, what="connected")
            broker.stop()
            await until(lambda: not app.mqtt.connected, what="disconnect noticed")
            broker = Mosquitto(tmp_path / "broker", port=broker.port).start()
            # every wait (5.5-11 s, jittered) is over the 5 s keepalive
            await until(lambda: app.mqtt.connected, timeout=60, what="reconnected")
            await asyncio.sleep(6.0)  # past one keepalive on the new connection: still up
            assert app.mqtt.connected
    finally:
        relay.stop()
        broker.stop()


async def test_outbox_survives_a_daemon_restart_during_an_outage(tmp_path, engines, registry):
    port = free_port()
    settings = mqtt_settings(tmp_path / "state", port)
    async with running(settings, engines, registry) as app:  # no broker at all yet
        assert app.mqtt is not None
        await until(lambda: "mqtt" in app.bus.stats(), what="the MQTT bridge listens to the bus")
        outage_events(app, 0, 25)
        await until(lambda: len(app.mqtt.outbox) == 25, what="events in the outbox")
    with sqlite3.connect(tmp_path / "state" / "outbox.db") as db:
        assert db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == 25
    with Mosquitto(tmp_path / "broker", port=port) as broker, Probe(broker.port, topics=(f"{ROOT}/#",)) as probe:
        async with running(settings, engines, registry) as app:
            assert app.mqtt is not None
            await until(lambda: received_numbers(probe) == set(range(25)), timeout=20, what="left-over events sent")
            await until(lambda: len(app.mqtt.outbox) == 0, what="outbox emptied after PUBACKs")


async def test_twenty_broker_restarts_lose_no_qos1_event(tmp_path, engines, registry):
    """The broker is stopped (SIGTERM) and restarted 20 times while events flow: every one arrives.

    SIGTERM, not SIGKILL: a killed Mosquitto forgets the subscriber's session, and with it what it
    had already acknowledged to us; what this measures is the appliance's side (outbox, resend).
    """
    broker = Mosquitto(tmp_path / "broker", persistence=True).start()
    settings = mqtt_settings(tmp_path / "state", broker.port, session_expiry_s=0)
    probe = Probe(broker.port, protocol=mqtt.MQTTv311, client_id="ha-kills", clean=False, topics=(f"{ROOT}/#",))
    probe.client.reconnect_delay_set(0.1, 0.5)
    sent = 0
    try:
        with probe:
            async with running(settings, engines, registry) as app:
                assert app.mqtt is not None
                await until(lambda: app.mqtt.connected, what="connected")
                for _ in range(20):
                    outage_events(app, sent, 5)  # while it is up ...
                    sent += 5
                    await until(
                        lambda: received_numbers(probe) >= set(range(sent)), timeout=20, what=f"delivered {sent}"
                    )
                    broker.stop()
                    outage_events(app, sent, 5)  # ... and while it is down: kept in the outbox
                    sent += 5
                    await until(lambda: not app.mqtt.connected, timeout=20, what="disconnect noticed")
                    broker = Mosquitto(tmp_path / "broker", port=broker.port, persistence=True).start()
                    await until(lambda: app.mqtt.connected, timeout=30, what="reconnected")
                await until(lambda: received_numbers(probe) == set(range(sent)), timeout=30, what="every event")
                assert len(app.mqtt.outbox) == 0
        print(f"broker restarts: 20, QoS 1 events sent {sent}, received {len(received_numbers(probe))}, lost 0")
    finally:
        broker.stop()
