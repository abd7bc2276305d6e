"""Rooms talking to each other: broadcasts by voice and as a command, and two real appliances on one broker.

The first tests use fakes (a fake broker, a speaker that records); the last ones run two
whole appliances on a real Mosquitto with the real engines: a broadcast spoken on the
other appliance, and a timer set on one listed and cancelled from the other.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from typing import Any

import numpy as np
import pytest

from appliance.audio.sink import earcon
from appliance.core.bus import Bus
from appliance.core.errors import CommandError
from appliance.core.events import BroadcastRelayed
from appliance.integrations.mqtt.discovery import DeviceInfo, discovery_payload
from appliance.integrations.mqtt.topics import Topics
from appliance.integrations.rooms.broadcast import Broadcast, BroadcastRefused, Seen, broadcast_request
from appliance.integrations.rooms.feature import RoomsFeature
from appliance.settings import RoomsSettings, Settings, settings_from_dict
from appliance.voice.conversation import Conversation
from appliance.voice.inbox import Inbox
from appliance.voice.pipeline import Pipeline
from appliance.voice.turn_record import Outcome

from .fakes import FakeBroker, FakeFrontEnd, FakeLlm, FakeMqtt, FakeStt, FakeTts, RecordingSink, until
from .mqtt_support import Probe, mqtt_settings, running

AREAS = ["kitchen", "living room", "Anna's room"]


@pytest.mark.parametrize(
    ("said", "expected"),
    [
        ("tell everyone dinner is ready", ("Dinner is ready.", "")),
        ("Tell everybody that the taxi is here!", ("The taxi is here.", "")),
        ("let everyone know we're leaving in five minutes", ("We're leaving in five minutes.", "")),
        ("broadcast that the film starts now", ("The film starts now.", "")),
        ("Announce: lunch is served.", ("Lunch is served.", "")),
        ("tell the kitchen I'm on my way", ("I'm on my way.", "kitchen")),
        ("let the living room know that dinner's ready", ("Dinner's ready.", "living room")),
        ("announce to the living room: bedtime", ("Bedtime.", "living room")),
        ("tell Anna's room to come down", ("To come down.", "Anna's room")),
        ("tell me a joke", None),
        ("tell the garage the car is ready", None),  # no appliance there
        ("what is the weather", None),
    ],
)
def test_the_words_that_ask_for_a_broadcast(said: str, expected: tuple[str, str] | None) -> None:
    assert broadcast_request(said, AREAS) == expected


def test_a_broadcast_message_is_made_safe_to_speak() -> None:
    message = Broadcast.from_payload(
        {"id": "b1", "from": "kitchen", "text": "Dinner\x1b[31m\x07 is\n ready", "area": ""}
    )
    assert message.text == "Dinner is ready"
    assert message.for_area("hall") and not Broadcast("b2", "kitchen", "Hi.", "Living_Room").for_area("hall")
    assert Broadcast("b2", "kitchen", "Hi.", "Living_Room").for_area("living room")
    for bad in (
        {"id": "b1", "from": "kitchen", "text": "x" * 301},
        {"id": "b1", "from": "kitchen", "text": " \x00 "},
        {"id": "b 1", "from": "kitchen", "text": "hi"},
        {"id": "b1", "from": "kitchen/#", "text": "hi"},
        {"id": "b1", "from": "kitchen", "text": 5},
        ["hi"],
    ):
        with pytest.raises(BroadcastRefused):
            Broadcast.from_payload(bad)
    seen = Seen(size=2)
    assert [seen.first(i) for i in ("a", "a", "b", "c", "a")] == [True, False, True, True, True]


class Speaker:
    """The pipeline's text turns, recorded."""

    def __init__(self) -> None:
        self.said: list[tuple[str, bool]] = []

    async def say(self, text: str, *, chime: bool = False) -> None:
        self.said.append((text, chime))


def room(broker: FakeBroker, device_id: str, **rooms: Any) -> tuple[RoomsFeature, Speaker, list[Any]]:
    settings = settings_from_dict(
        {"device": {"id": device_id}, "mqtt": {"host": "x"}, "rooms": {"area": device_id, **rooms}}
    )
    bus, speaker = Bus(), Speaker()
    events: list[Any] = []
    bus.publish = events.append  # type: ignore[method-assign]
    return RoomsFeature(settings, bus, FakeMqtt(broker=broker), speaker=speaker), speaker, events  # type: ignore[arg-type]


async def settle() -> None:
    for _ in range(5):  # the fake broker delivers on the next loop turns
        await asyncio.sleep(0)


async def test_a_command_speaks_everywhere_and_a_voice_request_everywhere_else() -> None:
    broker = FakeBroker()
    (kitchen, kitchen_says, kitchen_events), (hall, hall_says, _) = room(broker, "kitchen"), room(broker, "hall")
    assert await kitchen.broadcast("Anyone there?") == "There's no other room to tell."
    await settle()
    kitchen_events.clear()
    kitchen.mqtt.deliver(kitchen.hello_topic, {"device_id": "hall", "area": "hall"})
    result = await kitchen.commands()["broadcast"]({"text": "Dinner is ready."})
    await settle()
    assert (result["reached"], result["spoken"]) == (True, True)
    assert kitchen_says.said == [("Dinner is ready.", True)]  # with the earcon first
    assert hall_says.said == [("Anyone there?", True), ("Dinner is ready.", True)]
    answer = await kitchen.broadcast("Come down please.")
    await settle()
    assert answer == "Okay, I told everyone."
    assert kitchen_says.said == [("Dinner is ready.", True)]  # not spoken back where it was asked
    assert hall_says.said[-1] == ("Come down please.", True)
    sent = [e for e in kitchen_events if isinstance(e, BroadcastRelayed)]
    assert [(e.direction, e.spoken) for e in sent] == [("sent", True), ("sent", False)]
    assert kitchen.status()["broadcasts"] == {"sent": 3, "received": 0}
    assert hall.status()["broadcasts"] == {"sent": 0, "received": 3}


async def test_an_area_is_matched_against_what_the_peers_announce() -> None:
    broker = FakeBroker()
    (hall, _, _), (_kitchen, kitchen_says, _) = room(broker, "hall"), room(broker, "kitchen", area="Kitchen")
    (_attic, attic_says, _) = room(broker, "attic")
    hall.mqtt.deliver(hall.hello_topic, {"device_id": "kitchen", "area": "Kitchen"})
    assert hall.areas() == ["Kitchen", "hall"]
    intent = hall.intents()[0].match("Tell the kitchen I'm on my way")
    assert intent is not None and intent.name == "rooms.broadcast" and intent.action is not None
    assert intent.data == {"text": "I'm on my way.", "area": "Kitchen"} and not intent.speculative
    assert hall.intents()[0].match("tell the attic hello") is None  # the attic never said hello to the hall
    assert await intent.action() == "I told the Kitchen."
    await settle()
    assert kitchen_says.said == [("I'm on my way.", True)] and attic_says.said == []


async def test_repeats_floods_strangers_and_long_text_are_refused() -> None:
    broker = FakeBroker()
    hall, hall_says, _ = room(broker, "hall", trust=["kitchen"])
    topic = hall.topics.broadcast
    message = {"id": "b1", "from": "kitchen", "text": "One.", "area": ""}
    hall.mqtt.deliver(topic, message)
    hall.mqtt.deliver(topic, message)  # the broker's repeat
    for n in range(2, 6):
        hall.mqtt.deliver(topic, {**message, "id": f"b{n}"})
    hall.mqtt.deliver(topic, {**message, "id": "x1", "from": "stranger"})
    hall.mqtt.deliver(topic, b"\xff not json")
    await settle()
    assert len(hall_says.said) == 3  # a burst of three, then one every 5 s
    assert hall.status()["broadcasts"]["refused"] == {
        "broadcast-malformed": 1,
        "broadcast-rate-limited": 2,
        "broadcast-repeat": 1,
        "broadcast-untrusted": 1,
    }
    with pytest.raises(CommandError) as err:
        await hall.commands()["broadcast"]({"text": "x" * 301})
    assert err.value.code == "too-long"


async def test_with_the_broker_down_it_speaks_here_only() -> None:
    broker = FakeBroker()
    kitchen, kitchen_says, _ = room(broker, "kitchen")
    _hall, hall_says, _ = room(broker, "hall")
    kitchen.mqtt.connected = False
    result = await kitchen.commands()["broadcast"]({"text": "Dinner is ready.", "area": "hall"})
    assert (result["reached"], result["spoken"]) == (False, True)
    assert await kitchen.broadcast("Dinner is ready.") == "I couldn't reach the other rooms."
    await settle()
    assert kitchen_says.said == [("Dinner is ready.", True)] and hall_says.said == []


async def test_a_broadcast_waits_for_the_reply_in_progress_and_starts_with_the_earcon() -> None:
    sink = RecordingSink()
    pipeline = Pipeline(
        settings=Settings(), frontend=FakeFrontEnd(), inbox=Inbox(), stt=FakeStt(), llm=FakeLlm("No."),  # type: ignore[arg-type]
        tts=FakeTts(), sink=sink, bus=Bus(), conversation=Conversation("system"),
    )  # fmt: skip
    task = asyncio.create_task(pipeline.run())
    try:
        reply = asyncio.create_task(pipeline.say("A reply that takes a while."))
        await until(lambda: sink.played, timeout=5, what="the reply playing")
        broadcast = await asyncio.wait_for(pipeline.say("Dinner.", chime=True), 10)
        assert (await asyncio.wait_for(reply, 5)).outcome == Outcome.ANSWERED  # not cut
        assert broadcast.outcome == Outcome.ANSWERED
        audio = np.concatenate(sink.played)
        chime = earcon(FakeTts.sample_rate)
        reply_len = int(0.06 * len("A reply that takes a while.") * FakeTts.sample_rate)
        assert np.array_equal(audio[reply_len : reply_len + len(chime)], chime)
    finally:
        task.cancel()


def test_area_window_and_trust_are_taken_on_reload() -> None:
    hall, _, _ = room(FakeBroker(), "hall")
    rooms = {"area": "landing", "window_ms": 120, "trust": ["kitchen"]}
    new = settings_from_dict({"device": {"id": "hall"}, "mqtt": {"host": "x"}, "rooms": rooms})
    assert hall.apply(new) == ["rooms"]
    assert hall.areas() == ["landing"] and hall.broadcaster.area == "landing"
    assert hall.rooms.window_s == 0.12 and hall.rooms.peers.trust == frozenset({"kitchen"})
    moved = settings_from_dict({"device": {"id": "hall"}, "mqtt": {"host": "x"}, "rooms": {"group": "upstairs"}})
    assert hall.apply(moved) == []  # new topics: a restart


def test_home_assistant_gets_a_broadcast_notify_entity() -> None:
    topics = Topics.for_device("appliance", "kitchen")
    info = DeviceInfo("kitchen", "Kitchen", ("hey_jarvis",), rooms=True)
    entity = discovery_payload(topics, info)["cmps"]["broadcast"]
    assert entity["p"] == "notify" and entity["cmd_t"] == "appliance/kitchen/cmd/broadcast"
    assert entity["cmd_tpl"] == '{"text": {{ value | tojson }}}'
    assert "broadcast" not in discovery_payload(topics, info, permits=lambda name: name != "broadcast")["cmps"]
    assert "broadcast" not in discovery_payload(topics, DeviceInfo("kitchen", "Kitchen", ("hey_jarvis",)))["cmps"]


# -- the broker's ACL ---------------------------------------------------------------------------

ROOMS_ACL = """user homeassistant
topic readwrite #

user nodered
topic write appliance/kitchen/cmd/#

user kitchen
topic readwrite appliance/rooms/home/#
user hall
topic readwrite appliance/rooms/home/#

pattern readwrite appliance/%u/#
pattern write homeassistant/device/%u/config
pattern read homeassistant/status
"""
"""docs/security.md's ACL with the rooms lines (docs/rooms.md)."""


@pytest.mark.mqtt
def test_the_documented_acl_keeps_the_group_to_its_appliances(tmp_path) -> None:
    from appliance.integrations.mqtt.broker import Mosquitto

    from .mqtt_support import make_passwords

    acl = tmp_path / "acl"
    acl.write_text(ROOMS_ACL)
    users = {"kitchen": "k-pass", "hall": "h-pass", "nodered": "n-pass"}
    broker = Mosquitto(tmp_path / "broker", password_file=make_passwords(tmp_path / "passwd", users), acl_file=acl)
    broker.start()
    topic = "appliance/rooms/home/broadcast"
    try:
        with (
            Probe(broker.port, username="hall", password="h-pass", topics=("appliance/rooms/#",)) as hall,
            Probe(broker.port, username="kitchen", password="k-pass", topics=("appliance/kitchen/#",)) as kitchen,
            Probe(broker.port, username="nodered", password="n-pass", topics=("appliance/rooms/#",)) as nodered,
        ):
            nodered.send(topic, json.dumps({"id": "n1", "from": "kitchen", "text": "Forged."}))
            kitchen.send(topic, json.dumps({"id": "k1", "from": "kitchen", "text": "Dinner."}))
            hall.wait_for(topic, lambda m: m.json()["id"] == "k1", timeout=10)
            assert [m.json()["id"] for m in hall.on(topic)] == ["k1"]  # nodered's never reached the group
            assert nodered.on(topic) == []  # nor does it read the group
    finally:
        broker.stop()


# -- two appliances on a real broker --------------------------------------------------------


def room_settings(tmp_path, port: int, device_id: str) -> Settings:
    base = mqtt_settings(tmp_path / device_id, port)
    device = dataclasses.replace(base.device, id=device_id)
    return dataclasses.replace(base, device=device, rooms=RoomsSettings(area=device_id))


@pytest.mark.integration
@pytest.mark.mqtt
async def test_two_appliances_broadcast_and_share_a_timer(
    tmp_path, mosquitto, engines, registry, wake_detector_factory
):
    from appliance.engines.vad import load_detector
    from appliance.integrations.rooms.feature import RoomsFeature

    second = dataclasses.replace(
        engines, wake=wake_detector_factory(), speech=load_detector(Settings().vad, registry.resolve), turn=None
    )
    with Probe(mosquitto.port) as hub:
        async with (
            running(room_settings(tmp_path, mosquitto.port, "kitchen"), engines, registry) as kitchen,
            running(room_settings(tmp_path, mosquitto.port, "hall"), second, registry) as hall,
        ):
            kitchen_rooms, hall_rooms = kitchen.feature(RoomsFeature), hall.feature(RoomsFeature)
            assert kitchen_rooms is not None and hall_rooms is not None
            await until(
                lambda: (
                    kitchen_rooms.rooms.peers.known("hall", time.monotonic())
                    and hall_rooms.rooms.peers.known("kitchen", time.monotonic())
                ),
                timeout=15,
                what="peers known",
            )
            # a broadcast sent to the kitchen over MQTT is spoken in the hall (and in the kitchen)
            hub.send("appliance/kitchen/cmd/broadcast", "Dinner is ready.")
            heard = (await hub.next("appliance/hall/event/broadcast", timeout=10)).json()
            assert (heard["direction"], heard["sender"], heard["spoken"]) == ("received", "kitchen", True)
            said = (await hub.next("appliance/hall/event/reply", timeout=20)).json()
            assert said["text"] == "Dinner is ready." and not said["interrupted"]
            await until(lambda: any(r.reply == "Dinner is ready." for r in kitchen.pipeline.history), timeout=20)
            # a timer set in the kitchen is listed and cancelled from the hall
            await kitchen.commands.execute("timer.start", {"duration_s": 240, "name": "pasta"})
            await until(lambda: hall_rooms.timers.table.running(time.monotonic()), timeout=5, what="shared timer")
            listed = await hall.commands.execute("ask", {"text": "what timers do I have", "speak": False})
            assert listed["reply"].startswith("The kitchen has a pasta timer, 4 minutes"), listed
            cancelled = await hall.commands.execute("ask", {"text": "cancel the pasta timer", "speak": False})
            assert cancelled["reply"] == "Cancelled the kitchen's pasta timer.", cancelled
            assert (await kitchen.commands.execute("timers.list", {}))["timers"] == []
            status = hall.controller.status()["rooms"]
            assert status["peers"] == ["kitchen"] and status["broadcasts"]["received"] == 1
            assert json.loads(json.dumps(status))["timers"] == []
