"""The rooms bench: the room mixer's levels, the scoring, the delaying relay, and a short run of the real thing."""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import replace

import numpy as np
import pytest

from appliance.audio import SAMPLE_RATE
from appliance.bench.rooms_mix import (
    GAINS_DB,
    KINDS,
    NOISY_SNR_DB,
    dbfs,
    mix,
    plan_trials,
    room_noise,
    speech_dbfs,
    trial_audio,
)
from appliance.bench.rooms_relay import DelayRelay
from appliance.bench.rooms_score import Election, TrialRecord, score, score_alone

DEVICES = ("kitchen", "hall", "study")


def voice_like(seconds: float = 0.8, level: float = 6000.0) -> np.ndarray:
    """A clip with pauses: 200 Hz bursts of 0.2 s every 0.3 s."""
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    on = (t % 0.3) < 0.2
    return (np.sin(2 * np.pi * 200 * t) * level * on).astype(np.int16)


def test_speech_level_is_measured_over_its_voiced_frames() -> None:
    clip = voice_like()
    expected = 20 * np.log10(6000 / np.sqrt(2) / 32768)
    assert speech_dbfs(clip) == pytest.approx(expected, abs=0.3)  # the pauses do not lower it
    assert dbfs(clip) < expected - 1.0
    assert speech_dbfs(np.zeros(1600, np.int16)) == -120.0


def test_mix_applies_the_gain_and_the_noise_level() -> None:
    clip = voice_like()
    quiet = mix(clip, -6.0, np.zeros(len(clip)))
    assert speech_dbfs(quiet) == pytest.approx(speech_dbfs(clip) - 6.0, abs=0.1)
    noise = room_noise(SAMPLE_RATE * 4, -40.0, np.random.default_rng(1))
    assert dbfs(noise) == pytest.approx(-40.0, abs=0.2)
    mixed = mix(clip, 0.0, noise)
    assert len(mixed) == len(noise) and mixed.dtype == np.int16
    assert dbfs(mixed[len(clip) :]) == pytest.approx(-40.0, abs=0.3)  # after the clip: the room alone


def test_plans_rotate_the_nearest_and_put_a_room_in_noise() -> None:
    trials = plan_trials(DEVICES, 12, -20.0, seed=3)
    assert [t.nearest for t in trials[:4]] == ["kitchen", "hall", "study", "kitchen"]
    assert [t.kind for t in trials[:4]] == list(KINDS)
    assert len({t.minutes for t in trials}) == 12
    for t in trials:
        assert sorted(p.gain_db for p in t.placements) == sorted(GAINS_DB)
        assert len({p.device for p in t.placements}) == 3
        snrs = sorted((p.snr_db for p in t.placements), reverse=True)
        assert snrs[0] - snrs[1] >= 3.0  # the best placed is clearly so: no coin toss in the ground truth
    noisy = [t for t in trials if t.kind == "nearest-in-noise"]
    assert noisy and all(t.clearest != t.nearest for t in noisy)
    assert all(t.placement(t.nearest).snr_db == pytest.approx(NOISY_SNR_DB) for t in noisy)
    assert all(t.clearest == t.nearest for t in trials if t.kind == "quiet")


def test_each_device_hears_the_planned_level_and_snr() -> None:
    clip = voice_like(1.2)
    level = speech_dbfs(clip)
    for trial in plan_trials(DEVICES, 4, level, seed=5):
        audio = trial_audio(trial, clip, lead_s=2.0, tail_s=0.5, seed=9)
        lead = 2 * SAMPLE_RATE
        for p in trial.placements:
            heard = audio[p.device]
            assert len(heard) == lead + len(clip) + SAMPLE_RATE // 2
            noise = dbfs(heard[:lead])
            assert noise == pytest.approx(p.noise_dbfs, abs=0.3)
            speech_only = speech_dbfs(heard[lead : lead + len(clip)].astype(np.float64) - _noise_of(trial, p, audio))
            assert speech_only == pytest.approx(level + p.gain_db, abs=0.2)
            assert speech_only - noise == pytest.approx(p.snr_db, abs=0.4)


def _noise_of(trial, placement, audio) -> np.ndarray:
    """The noise trial_audio laid under the clip, made again from its seed (the mix is speech + noise)."""
    k = list(trial.placements).index(placement)
    rng = np.random.default_rng([9, trial.index, k])
    noise = room_noise(len(audio[placement.device]), placement.noise_dbfs, rng)
    return noise[2 * SAMPLE_RATE : 2 * SAMPLE_RATE + len(voice_like(1.2))]


# -- scoring ------------------------------------------------------------------------------------


def record(trial, *, answered, acted, claims, decisions=(120.0,), up=True) -> TrialRecord:
    r = TrialRecord(trial, broker_up=up, wake_end=100.0)
    r.heard = {d: 100.1 for d in DEVICES}
    r.outcomes = {d: ["answered" if d in answered else "yielded"] for d in DEVICES}
    r.timers = {d: int(d in acted) for d in DEVICES}
    r.timers_right = dict(r.timers)
    r.claims = [(100.05 + 0.01 * i, d) for i, d in enumerate(claims)]
    winner = answered[0] if answered else "kitchen"
    r.elections = [
        Election(d, "won" if d == winner else "lost", winner, 80.0, 100.0 + ms / 1000)
        for d, ms in zip(DEVICES, decisions, strict=False)
    ]
    r.states = dict.fromkeys(DEVICES, "electing" if up else "alone (broker down)")
    return r


def test_the_score_counts_single_answers_best_placed_and_double_actions() -> None:
    trials = plan_trials(DEVICES, 4, -20.0)
    quiet, quiet2, noisy, _ = trials  # noisy: kitchen nearest but in noise, hall clearest
    assert (noisy.nearest, noisy.clearest) == ("study", "kitchen")
    records = [
        record(quiet, answered=["kitchen"], acted=["kitchen"], claims=["kitchen", "hall", "study"]),
        record(quiet2, answered=["hall"], acted=["hall"], claims=["study", "hall"], decisions=(110.0, 200.0)),
        record(noisy, answered=["kitchen", "study"], acted=["kitchen", "study"], claims=["study", "kitchen"]),
    ]
    s = score(records)
    assert (s["trials"], s["exactly_one_answered"], s["answered_count"]) == (3, 2, {2: 1, 1: 2})
    assert (s["best_placed_won"], s["nearest_won"]) == (2, 2)
    assert s["trials_nearest_not_clearest"] == 1 and s["best_placed_rate_there"] == 0.0
    assert s["double_actions"] == 1 and s["no_action"] == 0
    assert s["elections_won_once"] == 3 and s["elections_agreeing"] == 3
    lat = s["end_of_wake_to_decision_ms"]
    assert lat["n"] == 4 and lat["max"] == 200.0 and lat["p50"] == 120.0
    assert s["within_target"] == 3
    ha = s["ha_rule"]
    assert (ha["trials_with_claims"], ha["first_claim_not_best_placed"]) == (3, 2)  # study first twice
    assert ha["wrong_rate_where_nearest_not_clearest"] == 1.0
    json.dumps(s)


def test_detection_is_timed_in_audio_and_the_skew_between_rooms_counted() -> None:
    trials = plan_trials(DEVICES, 2, -20.0)
    same = record(trials[0], answered=["kitchen"], acted=["kitchen"], claims=["kitchen"])
    apart = record(trials[1], answered=["hall", "kitchen"], acted=["hall"], claims=["kitchen", "hall"])
    same.wake_end_s = apart.wake_end_s = 12.0
    same.heard = dict.fromkeys(DEVICES, 12.04)
    apart.heard = {"kitchen": 12.04, "hall": 12.12, "study": 12.04}  # hall fired a frame later
    assert same.detection_ms() == {"hall": 40.0, "kitchen": 40.0, "study": 40.0} and same.skew_ms == 0.0
    assert apart.skew_ms == 80.0
    s = score([same, apart])
    assert s["detection_skew_ms"] == {"0.0": 1, "80.0": 1}
    assert s["answered_by_skew"] == {"0.0": {"trials": 1, "exactly_one": 1}, "80.0": {"trials": 1, "exactly_one": 0}}
    assert s["wake_end_to_detection_ms"]["p50"] == 40.0


def test_a_device_still_in_its_turn_at_the_end_answered() -> None:
    trial = plan_trials(DEVICES, 1, -20.0)[0]
    r = record(trial, answered=["kitchen"], acted=["kitchen"], claims=["kitchen", "hall"])
    del r.outcomes["study"]  # study won alone and was still replying when the trial ended
    r.busy = ["study"]
    assert r.answered == ["kitchen", "study"] and score([r])["exactly_one_answered"] == 0


def test_with_the_broker_down_each_answers_alone() -> None:
    trial = plan_trials(DEVICES, 1, -20.0)[0]
    down = record(trial, answered=list(DEVICES), acted=list(DEVICES), claims=[], decisions=(), up=False)
    up = record(trial, answered=["kitchen"], acted=["kitchen"], claims=["kitchen"])
    alone = score_alone([down, up])
    assert alone["trials"] == 1 and alone["answered_alone"] == 3 and alone["all_who_heard_answered"] == 1
    assert alone["status_states"] == {"alone (broker down)": 3}
    assert score([down, up])["trials"] == 1


# -- the feed ----------------------------------------------------------------------------------


class Sink:
    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, data: bytes) -> None:
        self.data += data

    def flush(self) -> None:
        pass


class Listener:
    def __init__(self) -> None:
        self.stdin = Sink()


def test_the_feed_writes_every_room_at_once_and_knows_where_each_mark_lies() -> None:
    from appliance.bench.rooms_daemon import RoomFeed

    rooms = {"kitchen": Listener(), "hall": Listener()}
    feed = RoomFeed(rooms, -90.0)  # type: ignore[arg-type]
    stretch = 1000  # not a whole number of 20 ms frames
    first = feed.play({"kitchen": np.full(stretch, 1000, np.int16), "hall": np.full(stretch, 2000, np.int16)}, {})
    second = feed.play({"kitchen": np.full(stretch, 3, np.int16), "hall": np.full(stretch, 4, np.int16)}, {"m": 10})
    feed.start()
    deadline = time.monotonic() + 5
    while "m" not in second and time.monotonic() < deadline:
        time.sleep(0.01)
    feed.stopped.set()
    feed.join(5)
    assert first == {} and second["m_s"] == pytest.approx((stretch + 10) / SAMPLE_RATE)
    kitchen = np.frombuffer(bytes(rooms["kitchen"].stdin.data), "<i2")
    hall = np.frombuffer(bytes(rooms["hall"].stdin.data), "<i2")
    assert (kitchen[:stretch] == 1000).all() and (hall[:stretch] == 2000).all()
    assert (kitchen[stretch : 2 * stretch] == 3).all() and (hall[stretch : 2 * stretch] == 4).all()


# -- the relay ----------------------------------------------------------------------------------


def test_the_relay_delays_each_direction_and_keeps_order() -> None:
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def echo() -> None:
        conn, _ = server.accept()
        with conn:
            while data := conn.recv(4096):
                conn.sendall(data)

    threading.Thread(target=echo, daemon=True).start()
    with DelayRelay(port, 0.05) as relay, socket.create_connection(("127.0.0.1", relay.port), timeout=5) as sock:
        start = time.monotonic()
        sock.sendall(b"ping")
        assert sock.recv(16) == b"ping"
        assert 0.1 <= time.monotonic() - start < 1.0  # 50 ms there, 50 ms back
        sent = b"".join(bytes([i]) * 100 for i in range(50))
        for i in range(50):
            sock.sendall(bytes([i]) * 100)
        got = b""
        while len(got) < len(sent):
            got += sock.recv(65536)
        assert got == sent
    server.close()


# -- the real thing, short ------------------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.mqtt
def test_two_daemons_two_trials(state_dir, voice) -> None:
    from appliance.bench.rooms import measure_rooms
    from appliance.settings import Settings

    settings = Settings()
    settings = replace(settings, paths=replace(settings.paths, state_dir=str(state_dir)))
    lines: list[str] = []
    report = measure_rooms(settings, voice, lines.append, trials=2, devices=2, conditions=("plain",))
    plain = report["plain"]
    rows = plain["per_trial"]
    assert [r["nearest"] for r in rows] == ["kitchen", "hall"]
    assert all(r["heard"] == ["hall", "kitchen"] for r in rows), rows
    assert plain["exactly_one_answered"] == 2 and plain["best_placed_won"] == 2, rows
    assert plain["double_actions"] == 0 and plain["no_action"] == 0, rows
    assert plain["end_of_wake_to_decision_ms"]["n"] == 4 and plain["daemon_delay_ms"]["n"] == 4
    assert plain["ha_rule"]["trials_with_claims"] == 2
    assert any("rooms plain 2/2" in line for line in lines)
    json.dumps(report)
