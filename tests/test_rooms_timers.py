"""One action per request across rooms: a loser acts on nothing; timers are shared, listed and cancelled from any room.

Orchestration with fakes (a fake broker between rooms features, the real skills engine on
a temporary store); the end-to-end check on a real Mosquitto is in test_rooms_broadcast.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from appliance.core.bus import Bus
from appliance.integrations.rooms.feature import RoomsFeature
from appliance.integrations.rooms.sharing import RoomTimers
from appliance.integrations.rooms.timers import PeerTimers, SharedTimer, TimersRefused, room_name, timers_from_payload
from appliance.integrations.rooms.wire import GroupTopics
from appliance.settings import Settings, settings_from_dict
from appliance.skills.feature import SkillsFeature
from appliance.skills.settings import SkillsSettings
from appliance.voice.conversation import Conversation
from appliance.voice.inbox import Inbox
from appliance.voice.pipeline import Pipeline
from appliance.voice.reply import Intent
from appliance.voice.turn_record import Outcome

from .fakes import (
    FakeBroker,
    FakeFrontEnd,
    FakeLlm,
    FakeMqtt,
    FakeStt,
    FakeTts,
    RecordingSink,
    began,
    ended,
    until,
    wake,
)

# -- the pure table ----------------------------------------------------------------------------


def test_a_timer_round_trips_and_bad_ones_are_refused() -> None:
    timer = SharedTimer(7, "pasta", 240.04, 600.0, paused=False)
    assert SharedTimer.from_payload(timer.to_payload()) == SharedTimer(7, "pasta", 240.0, 600.0)
    assert timers_from_payload(None) == ()
    bad: list[Any] = [
        {"id": True, "name": "", "remaining_s": 1, "duration_s": 1},
        {"id": 1, "name": "x" * 61, "remaining_s": 1, "duration_s": 1},
        {"id": 1, "name": "a\x1bb", "remaining_s": 1, "duration_s": 1},
        {"id": 1, "name": "", "remaining_s": -1, "duration_s": 1},
        {"id": 1, "name": "", "remaining_s": float("nan"), "duration_s": 1},
        {"id": 1, "name": "", "remaining_s": 1, "duration_s": 10**9},
        {"id": 1, "name": "", "remaining_s": 1, "duration_s": 1, "paused": "yes"},
        "timer",
    ]
    for entry in bad:
        with pytest.raises(TimersRefused):
            SharedTimer.from_payload(entry)
    with pytest.raises(TimersRefused):
        timers_from_payload([timer.to_payload()] * 21)
    with pytest.raises(TimersRefused):
        timers_from_payload({"id": 1})


def test_time_left_counts_from_our_own_receipt_time() -> None:
    """The sender's clock never enters: the same hello received later simply counts from later."""
    table = PeerTimers(forget_after_s=1000.0)
    table.update("kitchen", "kitchen", (SharedTimer(1, "pasta", 300.0, 600.0),), now=100.0)
    table.update("hall", "hall", (SharedTimer(2, "", 90.0, 600.0, paused=True),), now=100.0)
    assert [round(t.remaining(160.0)) for t in table.running(160.0)] == [90, 240]  # paused: frozen
    assert table.said("", 160.0) == [
        "The hall has a 10 minute timer, paused with 1 minute and 30 seconds left.",
        "The kitchen has a pasta timer, 4 minutes left.",
    ]
    assert table.said("pasta", 160.0) == ["The kitchen has a pasta timer, 4 minutes left."]
    assert table.said("kitchen", 160.0) == ["The kitchen has a pasta timer, 4 minutes left."]  # "the kitchen timer"
    assert table.said("eggs", 160.0) == []
    assert [t.device_id for t in table.running(401.0)] == ["hall"]  # the pasta timer ran out
    assert table.running(101.0 + table.forget_after_s) == []  # no hello for that long: forgotten
    table.update("kitchen", "kitchen", (), now=200.0)
    assert [t.device_id for t in table.running(200.0)] == ["hall"]


def test_rooms_are_said_naturally() -> None:
    assert room_name("kitchen") == "the kitchen"
    assert room_name("living_room") == "the living room"
    assert room_name("Anna's room") == "Anna's room"
    assert room_name("The attic") == "The attic"


# -- rooms on a fake broker ---------------------------------------------------------------------


class Room:
    """A rooms feature and the skills it shares timers with, on a fake broker."""

    def __init__(self, tmp_path: Path, broker: FakeBroker, device_id: str, **rooms: Any) -> None:
        settings = settings_from_dict(
            {"device": {"id": device_id}, "mqtt": {"host": "x"}, "rooms": {"area": device_id, **rooms}}
        )
        self.device_id = device_id
        self.bus = Bus()
        self.mqtt = FakeMqtt(broker=broker)
        self.peers = RoomTimers(device_id, GroupTopics.of("appliance", ""), self.mqtt, ack_wait_s=0.5)
        (tmp_path / device_id).mkdir()
        self.skills = SkillsFeature(SkillsSettings(), tmp_path / device_id, peers=self.peers, publish=self.bus.publish)
        self.rooms = RoomsFeature(settings, self.bus, self.mqtt, timers=self.peers, local=self.skills.skills)  # type: ignore[arg-type]

    def meets(self, other: Room | str) -> None:
        """``other`` has said hello for long enough to count as a known peer."""
        device_id = other if isinstance(other, str) else other.device_id
        hello = {"device_id": device_id, "area": device_id}
        self.mqtt.deliver(self.rooms.hello_topic, hello, received=time.monotonic() - 3.0)

    async def said(self, request: str) -> str:
        intent = self.skills.intents()[0].match(request)
        assert intent is not None and intent.action is not None, request
        return str(await asyncio.wait_for(intent.action(), 5))


@contextlib.asynccontextmanager
async def rooms(tmp_path: Path, *names: str, **settings: Any) -> AsyncIterator[list[Room]]:
    broker = FakeBroker()
    made = [Room(tmp_path, broker, name, **settings) for name in names]
    for room in made:
        await room.skills.start()
    tasks = [asyncio.create_task(loop()) for room in made for loop in room.rooms.loops().values()]
    try:
        yield made
    finally:
        for task in tasks:
            task.cancel()
        for room in made:
            await room.rooms.stop()
            await room.skills.stop()


async def test_a_timer_set_in_one_room_is_listed_and_cancelled_from_another(tmp_path: Path) -> None:
    async with rooms(tmp_path, "kitchen", "hall") as (kitchen, hall):
        kitchen.meets(hall)
        hall.meets(kitchen)
        assert await hall.said("what timers do I have") == "You don't have any timers."
        assert await kitchen.said("set a pasta timer for 4 minutes") == "Pasta timer set for 4 minutes."
        await until(lambda: hall.peers.table.running(time.monotonic()), timeout=5, what="the hello with the timer")
        assert await hall.said("what timers do I have") == "The kitchen has a pasta timer, 4 minutes left."
        assert await hall.said("how long is left on the pasta timer") == (
            "The kitchen has a pasta timer, 4 minutes left."
        )
        assert hall.rooms.status()["timers"][0]["name"] == "pasta"
        said = await hall.said("cancel the pasta timer")
        assert said == "Cancelled the kitchen's pasta timer.", (said, kitchen.rooms.owner.refused)
        assert kitchen.skills.skills.timers() == []
        assert hall.peers.table.running(time.monotonic()) == []
        assert kitchen.rooms.owner.cancelled == 1


async def test_local_timers_come_first_and_others_are_added(tmp_path: Path) -> None:
    async with rooms(tmp_path, "kitchen", "hall") as (kitchen, hall):
        kitchen.meets(hall)
        hall.meets(kitchen)
        await kitchen.said("set a pasta timer for 10 minutes")
        await hall.said("set a timer for 5 minutes")
        await until(lambda: hall.peers.table.running(time.monotonic()), timeout=5, what="the kitchen's timer")
        listed = await hall.said("how long is left on my timer")
        assert listed.startswith("5 minutes left on the 5 minute"), listed
        assert listed.endswith("The kitchen has a pasta timer, 10 minutes left.")
        assert (await hall.said("cancel the timer")).startswith("Cancelled the 5 minute")
        assert len(kitchen.skills.skills.timers()) == 1  # only the local one went


async def test_several_rooms_with_timers_are_asked_which(tmp_path: Path) -> None:
    async with rooms(tmp_path, "kitchen", "hall", "attic") as (kitchen, hall, attic):
        for room in (kitchen, hall):
            attic.meets(room)
            room.meets(attic)
        await kitchen.said("set a pasta timer for 10 minutes")
        await hall.said("set an egg timer for 5 minutes")
        await until(lambda: len(attic.peers.table.running(time.monotonic())) == 2, timeout=5, what="both timers")
        answer = await attic.said("cancel the timer")
        assert answer.startswith("Other rooms have 2 timers") and answer.endswith("Which one?")
        assert await attic.said("cancel the egg timer") == "Cancelled the hall's egg timer."
        assert len(kitchen.skills.skills.timers()) == 1


async def test_a_cancel_from_an_unknown_peer_is_refused(tmp_path: Path) -> None:
    async with rooms(tmp_path, "kitchen", "hall") as (kitchen, hall):
        hall.meets(kitchen)  # the kitchen has not heard the hall long enough to trust its requests
        await kitchen.said("set a pasta timer for 10 minutes")
        await until(lambda: hall.peers.table.running(time.monotonic()), timeout=5, what="the kitchen's timer")
        assert await hall.said("cancel the pasta timer") == "The kitchen didn't cancel its timer."
        assert len(kitchen.skills.skills.timers()) == 1
        assert kitchen.rooms.owner.refused == {"cancel-unknown-peer": 1}


async def test_without_an_answer_the_room_could_not_be_reached(tmp_path: Path) -> None:
    async with rooms(tmp_path, "kitchen", "hall") as (kitchen, hall):
        kitchen.meets(hall)
        hall.meets(kitchen)
        await kitchen.said("set a pasta timer for 10 minutes")
        await until(lambda: hall.peers.table.running(time.monotonic()), timeout=5, what="the kitchen's timer")
        hall.mqtt.broker.drop.add(hall.rooms.topics.cancelled)  # type: ignore[union-attr]
        started = time.monotonic()
        assert await hall.said("cancel the pasta timer") == "I couldn't reach the kitchen."
        assert 0.5 <= time.monotonic() - started < 1.5  # waited ack_wait_s, no more
        assert kitchen.skills.skills.timers() == []  # it went there; the asking room did not claim it had
        hall.mqtt.connected = False
        hall.peers.table.update("kitchen", "kitchen", (SharedTimer(9, "egg", 60.0, 60.0),), time.monotonic())
        started = time.monotonic()
        assert await hall.said("cancel the egg timer") == "I couldn't reach the kitchen."
        assert time.monotonic() - started < 0.2  # broker down: said at once


async def test_untrusted_askers_and_alarms_are_refused(tmp_path: Path) -> None:
    async with rooms(tmp_path, "kitchen", trust=["hall"]) as (kitchen,):
        await kitchen.said("set an alarm for 7 am")
        alarm_id = kitchen.skills.skills.list_timers()[0]["id"]
        assert await asyncio.to_thread(kitchen.rooms.owner.shared) == []  # alarms stay this room's own
        topic = kitchen.rooms.topics.cancel
        kitchen.mqtt.deliver(topic, {"to": "kitchen", "from": "attic", "id": "r1", "timer": alarm_id})
        kitchen.meets("hall")
        kitchen.mqtt.deliver(topic, {"to": "kitchen", "from": "hall", "id": "r2", "timer": alarm_id})
        kitchen.mqtt.deliver(topic, {"to": "somebody", "from": "hall", "id": "r3", "timer": alarm_id})
        await until(lambda: sum(kitchen.rooms.owner.refused.values()) == 2, timeout=5, what="both refused")
        assert kitchen.rooms.owner.refused == {"cancel-untrusted": 1, "no-timer": 1}
        acks = [payload for topic, payload in kitchen.mqtt.sent if topic.endswith("/cancelled")]
        assert [(a["to"], a["ok"], a["code"]) for a in acks] == [
            ("attic", False, "cancel-untrusted"),
            ("hall", False, "no-timer"),
        ]
        assert len(kitchen.skills.skills.list_timers()) == 1


async def test_a_timer_change_is_shared_at_once(tmp_path: Path) -> None:
    async with rooms(tmp_path, "kitchen") as (kitchen,):
        await until(lambda: kitchen.mqtt.sent, timeout=5, what="the first hello")
        first = len(kitchen.mqtt.sent)
        started = time.monotonic()
        await kitchen.said("set a pasta timer for 4 minutes")
        hellos = lambda: [p for t, p in kitchen.mqtt.sent[first:] if t.endswith("/hello") and p["timers"]]  # noqa: E731
        await until(hellos, timeout=2, what="a hello with the new timer")
        assert time.monotonic() - started < 1.0  # not the next 5 s heartbeat
        shared = hellos()[0]["timers"][0]
        assert shared["name"] == "pasta" and shared["duration_s"] == 240.0 and shared["paused"] is False
        assert 235.0 < shared["remaining_s"] <= 240.0


# -- one action per request -----------------------------------------------------------------------


class Arbiter:
    def __init__(self, won: bool) -> None:
        self.won = won

    def elect(self, msg: object) -> asyncio.Future[bool]:
        decided: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_later(0.05, decided.set_result, self.won)
        return decided


class Acts:
    """An intent matcher whose action records that it ran (a timer, a light)."""

    def __init__(self) -> None:
        self.matched: list[str] = []
        self.acted = 0

    def match(self, text: str) -> Intent | None:
        self.matched.append(text)

        async def act() -> str:
            self.acted += 1
            return "Timer set."

        return Intent("timer.start", "Timer set.", act)


@pytest.mark.parametrize("won", [False, True])
async def test_only_the_winner_runs_the_action(won: bool) -> None:
    stt, acts = FakeStt("set a timer for five minutes"), Acts()
    pipeline = Pipeline(
        settings=Settings(), frontend=FakeFrontEnd(), inbox=Inbox(), stt=stt, llm=FakeLlm("No."),  # type: ignore[arg-type]
        tts=FakeTts(), sink=RecordingSink(), bus=Bus(), conversation=Conversation("system"), intents=[acts],
        arbiter=Arbiter(won),
    )  # fmt: skip
    task = asyncio.create_task(pipeline.run())
    try:
        pipeline.post(wake())
        pipeline.post(began())
        await asyncio.sleep(0.2)  # the election is decided 50 ms after the wake word, long before speech ends
        pipeline.post(ended(audio_s=1.5))
        await until(lambda: pipeline.history, timeout=5, what="the turn finished")
        record = pipeline.history[-1]
        if won:
            assert (record.outcome, acts.acted, len(stt.calls)) == (Outcome.ANSWERED, 1, 1)
        else:
            assert (record.outcome, acts.acted, acts.matched, stt.calls) == (Outcome.YIELDED, 0, [], [])
    finally:
        task.cancel()
