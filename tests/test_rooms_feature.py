"""The rooms feature: claims and heartbeats on the wire, the election timed on the loop, the pipeline's side.

The first tests use a fake MQTT feature and a pipeline with fakes; the last ones run
whole appliances on a real Mosquitto with the real engines and Piper speech.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading
import time
from typing import Any

import numpy as np
import pytest

from appliance.audio import FRAME_SAMPLES, FRAME_SECONDS, SAMPLE_RATE
from appliance.audio.levels import wake_levels
from appliance.core.bus import Bus
from appliance.core.events import ElectionDecided, Stage
from appliance.integrations.rooms.feature import RoomsFeature, group_root
from appliance.settings import RoomsSettings, Settings, settings_from_dict
from appliance.voice.conversation import Conversation
from appliance.voice.inbox import Inbox
from appliance.voice.messages import WakeHeard
from appliance.voice.pipeline import Pipeline
from appliance.voice.turn_record import Outcome

from .conftest import conversation
from .fakes import FakeFrontEnd, FakeLlm, FakeMqtt, FakeStt, FakeTts, RecordingSink, until, wake
from .mqtt_support import Probe, mqtt_settings, running


def rooms_feature(mqtt: FakeMqtt, bus: Bus | None = None, **rooms: Any) -> RoomsFeature:
    settings = settings_from_dict({"device": {"id": "kitchen"}, "mqtt": {"host": "x"}, "rooms": rooms})
    return RoomsFeature(settings, bus or Bus(), mqtt)  # type: ignore[arg-type]


def heard(snr_db: float = 30.0, level_dbfs: float = -20.0) -> WakeHeard:
    base = wake()
    return dataclasses.replace(base, mono=time.monotonic(), level_dbfs=level_dbfs, snr_db=snr_db)


def peer_claim(device_id: str, snr_db: float) -> dict[str, Any]:
    return {"device_id": device_id, "wake_word": "hey_jarvis", "score": 0.9, "level_dbfs": -20.0, "snr_db": snr_db}


def known_peer(feature: RoomsFeature, mqtt: FakeMqtt, device_id: str) -> None:
    mqtt.deliver(feature.hello_topic, {"device_id": device_id}, received=time.monotonic() - 3.0)


def test_topics_are_shared_by_the_group() -> None:
    assert group_root("appliance/", "") == "appliance/rooms/home"
    assert group_root("appliance", "up/#") == "appliance/rooms/up__"
    mqtt = FakeMqtt()
    feature = rooms_feature(mqtt, group="upstairs")
    leaves = {"claim", "hello", "cancel", "cancelled", "broadcast"}
    assert set(mqtt.handlers) == {f"appliance/rooms/upstairs/{leaf}" for leaf in leaves}
    assert feature.status() == {
        "state": "alone (no peers)",
        "group": "upstairs",
        "peers": [],
        "timers": [],
        "broadcasts": {"sent": 0, "received": 0},
    }


async def test_alone_answers_at_once_but_still_claims() -> None:
    mqtt = FakeMqtt()
    feature = rooms_feature(mqtt, area="kitchen")
    assert feature.elect(heard()) is None
    topic, claim = mqtt.sent[-1]
    assert topic == feature.claim_topic
    assert claim == {
        "device_id": "kitchen",
        "wake_word": "hey_jarvis",
        "score": 0.9,
        "level_dbfs": -20.0,
        "snr_db": 30.0,
        "area": "kitchen",
    }


async def test_broker_down_means_alone_and_status_says_so() -> None:
    mqtt = FakeMqtt(connected=False)
    feature = rooms_feature(mqtt)
    known_peer(feature, mqtt, "hall")
    assert feature.elect(heard()) is None
    assert [topic for topic, _ in mqtt.sent if topic == feature.claim_topic] == []
    assert feature.status()["state"] == "alone (broker down)"


async def test_a_clearer_peer_wins_and_the_decision_is_published() -> None:
    mqtt, bus = FakeMqtt(), Bus()
    bus.bind(asyncio.get_running_loop())
    feature = rooms_feature(mqtt, bus, window_ms=50)
    known_peer(feature, mqtt, "hall")
    assert feature.status()["peers"] == ["hall"]
    with bus.subscribe(ElectionDecided, maxsize=4, name="test") as events:
        decided = feature.elect(heard(snr_db=10.0))
        assert decided is not None
        mqtt.deliver(feature.claim_topic, peer_claim("hall", 25.0))
        mqtt.deliver(feature.claim_topic, b"{not json")
        assert await asyncio.wait_for(decided, 2) is False
        event = await asyncio.wait_for(events.get(), 2)
    assert (event.result, event.winner) == ("lost", "hall")
    assert [c["device_id"] for c in event.claims] == ["kitchen", "hall"]
    # a clearer claim settles it at once: whatever else arrives, this one has lost
    assert event.delay_ms < 40.0
    assert feature.status()["last"]["result"] == "lost"
    assert feature.status()["refused"] == {"claim-malformed": 1}  # counted after the decision, too


async def test_the_window_closes_on_its_own_when_a_known_peer_stays_silent() -> None:
    mqtt, bus = FakeMqtt(), Bus()
    bus.bind(asyncio.get_running_loop())
    feature = rooms_feature(mqtt, bus, window_ms=50)
    known_peer(feature, mqtt, "hall")
    with bus.subscribe(ElectionDecided, maxsize=4, name="test") as events:
        decided = feature.elect(heard(snr_db=10.0))
        assert decided is not None
        mqtt.deliver(feature.claim_topic, b"{not json")
        assert await asyncio.wait_for(decided, 2) is True
        event = await asyncio.wait_for(events.get(), 2)
    assert (event.result, event.winner) == ("won", "kitchen")
    assert 40.0 <= event.delay_ms < 150.0
    assert event.refused == {"claim-malformed": 1}


async def test_our_clearer_claim_wins() -> None:
    mqtt = FakeMqtt()
    feature = rooms_feature(mqtt, window_ms=20)
    known_peer(feature, mqtt, "hall")
    decided = feature.elect(heard(snr_db=40.0))
    assert decided is not None
    mqtt.deliver(feature.claim_topic, peer_claim("hall", 10.0))
    assert await asyncio.wait_for(decided, 2) is True


async def test_a_newcomer_is_greeted_back_once() -> None:
    mqtt = FakeMqtt()
    feature = rooms_feature(mqtt)
    mqtt.deliver(feature.hello_topic, {"device_id": "hall"})
    mqtt.deliver(feature.hello_topic, {"device_id": "hall"})
    mqtt.deliver(feature.hello_topic, {"device_id": "kitchen"})  # our own, echoed
    assert [topic for topic, _ in mqtt.sent] == [feature.hello_topic]


def test_wake_levels_tell_a_quiet_room_from_a_noisy_one() -> None:
    rng = np.random.default_rng(1)
    tone = (8000 * np.sin(np.arange(SAMPLE_RATE) * 2 * np.pi * 440 / SAMPLE_RATE)).astype(np.int16)
    quiet = np.concatenate([np.zeros(2 * SAMPLE_RATE, np.int16), tone])
    noise = rng.normal(0, 600, 3 * SAMPLE_RATE)
    noisy = np.clip(quiet * 0.5 + noise, -32768, 32767).astype(np.int16)
    level, snr = wake_levels(quiet)
    assert -16.0 < level < -12.0 and snr == 80.0
    level_noisy, snr_noisy = wake_levels(noisy)
    assert level_noisy < level and snr_noisy < 30.0


class Arbiter:
    def __init__(self, won: bool | None) -> None:
        self.won = won
        self.asked: list[WakeHeard] = []

    def elect(self, msg: WakeHeard) -> asyncio.Future[bool] | None:
        self.asked.append(msg)
        if self.won is None:
            return None
        decided: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_later(0.05, decided.set_result, self.won)
        return decided


def pipeline_with(arbiter: Arbiter) -> tuple[Pipeline, RecordingSink]:
    sink = RecordingSink()
    pipeline = Pipeline(
        settings=Settings(),
        frontend=FakeFrontEnd(),  # type: ignore[arg-type]
        inbox=Inbox(),
        stt=FakeStt(),
        llm=FakeLlm("Noon."),
        tts=FakeTts(),
        sink=sink,
        bus=Bus(),
        conversation=Conversation("system"),
        arbiter=arbiter,
    )
    return pipeline, sink


async def test_a_lost_election_drops_the_turn_without_a_sound() -> None:
    pipeline, sink = pipeline_with(Arbiter(won=False))
    task = asyncio.create_task(pipeline.run())
    try:
        pipeline.post(wake())
        await until(lambda: pipeline.history, timeout=5, what="turn dropped")
        assert pipeline.history[-1].outcome == Outcome.YIELDED
        assert sink.played == []  # no earcon: it waits for a won election
        assert pipeline.frontend.cancelled  # type: ignore[attr-defined]
    finally:
        task.cancel()


async def test_a_won_election_keeps_the_turn_listening() -> None:
    pipeline, sink = pipeline_with(Arbiter(won=True))
    task = asyncio.create_task(pipeline.run())
    try:
        pipeline.post(wake())
        await until(lambda: pipeline.turn is not None, timeout=5, what="turn started")
        turn = pipeline.turn
        await until(lambda: sink.played, timeout=5, what="the winner's earcon")
        assert pipeline.turn is turn and not pipeline.history
    finally:
        task.cancel()


async def test_a_barge_in_is_not_elected() -> None:
    arbiter = Arbiter(won=False)
    pipeline, _ = pipeline_with(arbiter)
    task = asyncio.create_task(pipeline.run())
    try:
        saying = asyncio.create_task(pipeline.say("A long sentence that takes a while to say out loud."))
        await until(lambda: pipeline.stage == Stage.SPEAKING, timeout=5, what="speaking")
        pipeline.post(wake())
        await until(lambda: pipeline.turn is not None and pipeline.turn.capture_id == 1, timeout=5, what="barge-in")
        await asyncio.wait_for(saying, 5)
        assert arbiter.asked == []
    finally:
        task.cancel()


# -- two appliances on a real broker --------------------------------------------------------


class GatedSource:
    """A room, paced like a microphone: its noise, and ``samples`` once over it when ``gate`` opens."""

    name = "gated"
    realtime = True

    def __init__(self, samples: np.ndarray, gate: threading.Event, *, noise_rms: float = 0.0) -> None:
        self.samples = samples
        self.gate = gate
        self.noise_rms = noise_rms
        """The room's own noise, heard before, during and after the speech."""
        self.rng = np.random.default_rng(7)
        self.pos = 0
        self.next = 0.0

    def open(self) -> None:
        self.next = time.monotonic()

    def read_into(self, out: np.ndarray, timeout: float) -> bool:
        self.next += FRAME_SECONDS
        time.sleep(max(0.0, min(timeout, self.next - time.monotonic())))
        frame = self.rng.normal(0.0, self.noise_rms, FRAME_SAMPLES) if self.noise_rms else np.zeros(FRAME_SAMPLES)
        if self.gate.is_set() and self.pos < len(self.samples):
            chunk = self.samples[self.pos : self.pos + FRAME_SAMPLES]
            frame[: len(chunk)] += chunk
            self.pos += FRAME_SAMPLES
        out[:] = np.clip(frame, -32768, 32767)
        return True

    def close(self) -> None:
        pass


def room_settings(tmp_path, port: int, device_id: str) -> Settings:
    base = mqtt_settings(tmp_path / device_id, port)
    device = dataclasses.replace(base.device, id=device_id)
    return dataclasses.replace(base, device=device, rooms=RoomsSettings(window_ms=300, area=device_id))


def feature_of(app) -> RoomsFeature:
    found = app.feature(RoomsFeature)
    assert found is not None
    return found


@pytest.mark.integration
@pytest.mark.mqtt
async def test_two_appliances_hear_one_wake_word_and_exactly_one_answers(
    tmp_path, mosquitto, engines, registry, speak, wake_detector_factory
):
    from appliance.engines.vad import load_detector

    clean, _, _ = conversation(speak, speak("What time is it?"))
    far = (clean // 2).astype(np.int16)  # further away, and in a room with a fan (GatedSource's noise)
    second = dataclasses.replace(  # its own stateful detectors: two audio threads run at once
        engines, wake=wake_detector_factory(), speech=load_detector(Settings().vad, registry.resolve), turn=None
    )
    gate = threading.Event()
    with Probe(mosquitto.port) as hub:
        async with (
            running(
                room_settings(tmp_path, mosquitto.port, "kitchen"),
                engines,
                registry,
                source=GatedSource(clean, gate, noise_rms=20.0),
            ) as near_app,
            running(
                room_settings(tmp_path, mosquitto.port, "hall"),
                second,
                registry,
                source=GatedSource(far, gate, noise_rms=150.0),
            ) as far_app,
        ):
            near, far_feature = feature_of(near_app), feature_of(far_app)
            await until(
                lambda: (
                    near.rooms.peers.known("hall", time.monotonic())
                    and far_feature.rooms.peers.known("kitchen", time.monotonic())
                ),
                timeout=15,
                what="peers known",
            )
            gate.set()
            lost = (await hub.next("appliance/hall/event/election", timeout=20)).json()
            won = (await hub.next("appliance/kitchen/event/election", timeout=5)).json()
            assert (lost["result"], lost["winner"], won["result"]) == ("lost", "kitchen", "won"), json.dumps(lost)
            assert {c["device_id"] for c in lost["claims"]} == {"kitchen", "hall"}
            reply = (await hub.next("appliance/kitchen/event/reply", timeout=30)).json()
            assert reply["text"]
            await until(lambda: far_app.pipeline.history, timeout=5, what="the loser's turn recorded")
            assert far_app.pipeline.history[-1].outcome == Outcome.YIELDED
            assert hub.on("appliance/hall/event/reply") == []
            assert far_app.controller.status()["rooms"]["peers"] == ["kitchen"]


@pytest.mark.integration
@pytest.mark.mqtt
async def test_an_appliance_alone_answers_as_before(tmp_path, mosquitto, engines, registry, speak):
    audio, _, _ = conversation(speak, speak("What time is it?"))
    with Probe(mosquitto.port) as hub:
        async with running(room_settings(tmp_path, mosquitto.port, "kitchen"), engines, registry, audio) as app:
            reply = (await hub.next("appliance/kitchen/event/reply", timeout=30)).json()
            assert reply["text"]
            assert hub.on("appliance/kitchen/event/election") == []
            assert app.controller.status()["rooms"]["state"] == "alone (no peers)"


@pytest.mark.integration
async def test_with_the_broker_down_it_answers_alone(tmp_path, engines, registry, speak):
    audio, _, _ = conversation(speak, speak("What time is it?"))
    settings = room_settings(tmp_path, 1, "kitchen")  # nothing listens on port 1
    async with running(settings, engines, registry, audio) as app:
        await until(lambda: app.pipeline.history, timeout=30, what="answered")
        assert app.pipeline.history[-1].outcome == Outcome.ANSWERED
        assert app.controller.status()["rooms"]["state"] == "alone (broker down)"
