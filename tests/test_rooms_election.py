"""The room election: the rule, the window, who may take part, and agreement between appliances."""

from __future__ import annotations

import json
import random

import pytest

from appliance.core.errors import CommandError
from appliance.integrations.rooms.election import (
    Claim,
    ClaimRefused,
    Election,
    PeerTable,
    RateLimit,
    Rooms,
    rank_key,
)

T0 = 100.0
"""Local time of the end of our wake word in most tests: long after the peers' first heartbeat."""


def claim(device_id: str = "kitchen", *, snr: float = 20.0, score: float = 0.9, area: str = "") -> Claim:
    return Claim(device_id=device_id, wake_word="hey_jarvis", score=score, level_dbfs=-30.0, snr_db=snr, area=area)


def payload(**changes: object) -> dict[str, object]:
    return {**claim().to_payload(), **changes}


def rooms_knowing(
    own: str, *peers: str, at: float = T0 - 10.0, table: PeerTable | None = None, early_s: float | None = None
) -> Rooms:
    """An appliance that heard heartbeats from ``peers`` at local time ``at`` (10 s before ``T0``)."""
    rooms = Rooms(own, peers=table, early_s=early_s)
    for peer in peers:
        rooms.heard(peer, at)
    return rooms


def best(*claims: Claim) -> str:
    return min(claims, key=rank_key).device_id


# --- the rule


def test_the_clearest_signal_wins_over_a_higher_score() -> None:
    assert best(claim("kitchen", snr=18.0, score=0.99), claim("hall", snr=24.0, score=0.6)) == "hall"


def test_snr_within_half_a_db_ties_and_the_score_decides() -> None:
    assert best(claim("kitchen", snr=20.1, score=0.95), claim("hall", snr=20.2, score=0.80)) == "kitchen"
    assert best(claim("kitchen", snr=20.0, score=0.95), claim("hall", snr=20.6, score=0.80)) == "hall"


def test_a_full_tie_goes_to_the_smallest_id() -> None:
    assert best(claim("kitchen", score=0.901), claim("hall", score=0.899), claim("loft", score=0.9)) == "hall"


# --- claims on the wire


def test_a_claim_survives_the_json_round_trip_exactly() -> None:
    original = claim("hall-2", snr=17.123456789, score=0.7311, area="Living room")
    assert Claim.from_payload(json.loads(json.dumps(original.to_payload()))) == original


@pytest.mark.parametrize(
    "changes",
    [{"score": 5.0}, {"snr_db": 1e9}, {"snr_db": float("nan")}, {"level_dbfs": 3.0}, {"score": 10**400}],
)
def test_a_forged_value_is_refused_as_out_of_range(changes: dict[str, object]) -> None:
    with pytest.raises(ClaimRefused) as refused:
        Claim.from_payload(payload(**changes))
    assert refused.value.code == "claim-out-of-range"
    assert isinstance(refused.value, ValueError) and isinstance(refused.value, CommandError)


@pytest.mark.parametrize(
    "obj",
    [
        [1, 2],
        "claim",
        payload(score="0.9"),
        payload(score=True),
        payload(device_id="a/b"),
        payload(device_id=""),
        payload(device_id="x" * 65),
        payload(device_id=7),
        payload(area="x" * 65),
        payload(wake_word="hey\njarvis"),
        {k: v for k, v in payload().items() if k != "snr_db"},
    ],
)
def test_a_malformed_claim_is_refused(obj: object) -> None:
    with pytest.raises(ClaimRefused) as refused:
        Claim.from_payload(obj)
    assert refused.value.as_dict()["code"] == "claim-malformed"


def test_the_area_may_be_left_out() -> None:
    assert Claim.from_payload({k: v for k, v in payload().items() if k != "area"}).area == ""


def test_a_forged_claim_cannot_silence_the_group() -> None:
    rooms = rooms_knowing("kitchen", "hall")
    election = rooms.start(claim("kitchen"), T0)
    assert not rooms.receive_payload(payload(device_id="hall", score=5.0), T0 + 0.01)
    assert not rooms.receive_payload(payload(device_id="hall", snr_db=1e9), T0 + 0.02)
    assert election.won(T0 + 0.08)
    assert rooms.refused == {"claim-out-of-range": 2}
    assert election.record(T0 + 0.08)["refused"] == {"claim-out-of-range": 2}


# --- the window


def test_a_claim_just_inside_the_window_counts() -> None:
    rooms = rooms_knowing("kitchen", "hall")
    election = rooms.start(claim("kitchen", snr=10.0), T0)
    assert rooms.receive(claim("hall", snr=30.0), T0 + 0.079)
    assert not election.decided(T0 + 0.079)
    assert election.decided(T0 + 0.08)
    assert election.winner(T0 + 0.08).device_id == "hall"
    assert not election.won(T0 + 0.08)


def test_a_claim_just_after_the_window_does_not() -> None:
    rooms = rooms_knowing("kitchen", "hall")
    election = rooms.start(claim("kitchen", snr=10.0), T0)
    assert not rooms.receive(claim("hall", snr=30.0), T0 + 0.081)
    assert election.won(T0 + 0.081)
    assert election.record(T0 + 0.081)["refused"] == {"claim-late": 1}


def test_the_winner_is_final_once_read_after_the_window() -> None:
    election = Election(claim("kitchen", snr=10.0), T0)
    assert election.winner(T0 + 0.08).device_id == "kitchen"
    assert not election.offer(claim("hall", snr=30.0), T0 + 0.05)  # read too late to change the answer
    assert election.won(T0 + 0.2)


def test_before_the_window_closes_the_winner_is_the_best_so_far() -> None:
    election = Election(claim("kitchen", snr=10.0), T0)
    assert election.offer(claim("hall", snr=30.0), T0 + 0.01)
    assert election.winner(T0 + 0.02).device_id == "hall" and not election.settled
    assert election.offer(claim("loft", snr=40.0), T0 + 0.03)
    assert election.winner(T0 + 0.08).device_id == "loft"


def test_claims_received_before_our_detection_are_held_and_used() -> None:
    rooms = rooms_knowing("kitchen", "hall", "loft")
    assert rooms.receive(claim("hall", snr=30.0), T0 - 0.05)  # hall detected first
    assert rooms.receive(claim("loft", snr=40.0), T0 - 0.5)  # an earlier wake of loft's, not this one
    election = rooms.start(claim("kitchen", snr=10.0), T0)
    record = election.record(T0 + 0.08)
    assert record["winner"] == "hall" and record["result"] == "lost"
    assert [c["device_id"] for c in record["claims"]] == ["kitchen", "hall"]
    assert record["delay_ms"] == 80.0


def test_how_early_a_claim_may_come_is_an_option() -> None:
    rooms = rooms_knowing("kitchen", "hall", early_s=0.02)
    rooms.receive(claim("hall", snr=30.0), T0 - 0.05)
    assert rooms.start(claim("kitchen", snr=10.0), T0).won(T0 + 0.08)


def test_one_claim_per_appliance_the_first() -> None:
    election = Election(claim("kitchen", snr=10.0), T0)
    assert election.offer(claim("hall", snr=5.0), T0 + 0.01)
    assert not election.offer(claim("hall", snr=60.0), T0 + 0.02)
    assert election.won(T0 + 0.08)
    assert election.refused == {"claim-duplicate": 1}


# --- deciding alone


def test_without_peers_an_appliance_wins_alone_at_once() -> None:
    election = Rooms("kitchen").start(claim("kitchen"), T0)
    assert election.decided(T0) and election.won(T0)
    assert election.record(T0)["delay_ms"] == 0.0


def test_a_barge_in_is_not_elected() -> None:
    rooms = rooms_knowing("kitchen", "hall")
    rooms.receive(claim("hall", snr=30.0), T0 - 0.01)
    election = rooms.start(claim("kitchen", snr=10.0), T0, alone=True)
    assert election.decided(T0) and election.won(T0)


def test_our_own_claim_echoed_by_the_broker_is_ignored() -> None:
    rooms = rooms_knowing("kitchen", "kitchen")
    assert not rooms.receive(claim("kitchen"), T0)
    assert rooms.peers.peers(T0) == [] and not rooms.refused


# --- who takes part


def test_a_never_seen_id_cannot_silence_an_empty_group() -> None:
    rooms = Rooms("kitchen")
    assert not rooms.receive(claim("intruder", snr=80.0, score=1.0), T0 - 0.01)
    election = rooms.start(claim("kitchen", snr=0.0), T0)
    assert election.won(T0)
    assert rooms.refused == {"claim-unknown-peer": 1}


def test_an_id_seen_only_moments_ago_is_not_yet_a_peer() -> None:
    rooms = rooms_knowing("kitchen", "hall")
    rooms.heard("newbie", T0 - 1.0)  # its first heartbeat: less than min_known_s ago
    election = rooms.start(claim("kitchen", snr=10.0), T0)
    assert not rooms.receive(claim("newbie", snr=80.0), T0 + 0.01)
    assert election.won(T0 + 0.08)
    assert election.record(T0 + 0.08)["refused"] == {"claim-unknown-peer": 1}


def test_peers_are_known_after_min_known_s_and_forgotten_after_a_silence() -> None:
    table = PeerTable(min_known_s=2.0, forget_after_s=60.0)
    table.seen("hall", 0.0)
    assert not table.known("hall", 1.9) and table.known("hall", 2.0)
    assert table.peers(30.0) == ["hall"]
    assert not table.known("hall", 60.1) and table.peers(60.1) == []
    table.seen("hall", 70.0)  # back after a silence: it waits again
    assert not table.known("hall", 71.0) and table.known("hall", 72.0)


def test_a_flood_of_made_up_heartbeat_ids_is_bounded() -> None:
    table = PeerTable(max_peers=8)
    for n in range(1000):
        table.seen(f"fake{n}", 0.0)
    table.seen("bad id!", 0.0)
    assert len(table.peers(1.0)) == 8
    table.seen("hall", 100.0)  # once the fakes are forgotten, a real peer still gets in
    assert table.peers(100.0) == ["hall"]


def test_with_a_trust_list_only_listed_ids_take_part() -> None:
    rooms = rooms_knowing("kitchen", "hall", "rogue", table=PeerTable(trust=frozenset({"hall"})))
    election = rooms.start(claim("kitchen", snr=10.0), T0)
    assert not rooms.receive(claim("rogue", snr=80.0), T0 + 0.01)
    assert rooms.receive(claim("hall", snr=30.0), T0 + 0.02)
    assert election.winner(T0 + 0.08).device_id == "hall"
    assert rooms.peers.peers(T0) == ["hall"]
    assert rooms.refused == {"claim-untrusted": 1}


def test_the_rate_limit_allows_a_burst_then_refills() -> None:
    limit = RateLimit(per_s=2.5, burst=5)
    assert sum(limit.allow("hall", 0.0) for _ in range(1000)) == 5
    assert limit.dropped == {"hall": 995}
    assert sum(limit.allow("hall", 2.0) for _ in range(10)) == 5
    assert limit.allow("loft", 2.0)  # the limit is per id


def test_a_flood_from_one_id_is_dropped_and_counted() -> None:
    rooms = rooms_knowing("kitchen", "hall", "loft")
    election = rooms.start(claim("kitchen", snr=10.0), T0)
    accepted = [rooms.receive(claim("hall", snr=5.0), T0 + n * 0.00005) for n in range(1000)]
    assert accepted.count(True) == 1  # the burst passes the limit; one claim per appliance counts
    assert rooms.receive(claim("loft", snr=30.0), T0 + 0.06)  # the group is not silenced
    record = election.record(T0 + 0.08)
    assert record["winner"] == "loft"
    assert [c["device_id"] for c in record["claims"]] == ["kitchen", "hall", "loft"]
    assert record["refused"] == {"claim-duplicate": 4, "claim-rate-limited": 995}
    assert rooms.limit.dropped == {"hall": 995}


# --- agreement between appliances


def _elect(claims: dict[str, Claim], wake_end: dict[str, float], delay_s: float) -> dict[str, dict]:
    """Two or more appliances, each on its own clock, exchanging claims through a broker ``delay_s`` away."""
    offset = {device_id: 5.0 * n for n, device_id in enumerate(claims)}  # local clock = true time + offset
    rooms = {me: rooms_knowing(me, *(p for p in claims if p != me), at=offset[me]) for me in claims}
    events: list[tuple[float, int, str, str]] = []
    for me in claims:
        events.append((wake_end[me], 0, me, me))  # our wake word ends: start the election
        events += [(wake_end[me] + 2 * delay_s, 1, me, peer) for peer in claims if peer != me]
    elections: dict[str, Election] = {}
    for at, kind, source, target in sorted(events):
        local = at + offset[target]
        if kind == 0:
            elections[target] = rooms[target].start(claims[target], local)
        else:
            wire = json.loads(json.dumps(claims[source].to_payload()))
            assert rooms[target].receive_payload(wire, local)
    return {me: e.record(e.deadline) for me, e in elections.items()}


@pytest.mark.parametrize(
    ("skew_s", "delay_s"),
    [(0.0, 0.02), (0.03, 0.02), (0.039, 0.02), (-0.035, 0.02), (0.03, 0.005), (-0.03, 0.0)],
)
def test_two_rooms_with_clocks_5_s_apart_elect_the_same_winner(skew_s: float, delay_s: float) -> None:
    claims = {"kitchen": claim("kitchen", snr=18.0), "hall": claim("hall", snr=24.0)}
    records = _elect(claims, {"kitchen": 10.0, "hall": 10.0 + skew_s}, delay_s)
    assert {r["winner"] for r in records.values()} == {"hall"}
    assert records["hall"]["result"] == "won" and records["kitchen"]["result"] == "lost"
    assert all(len(r["claims"]) == 2 and r["delay_ms"] <= 150.0 for r in records.values())


def test_three_rooms_hearing_equally_well_agree_on_the_tie_break() -> None:
    claims = {d: claim(d, snr=20.0 + n * 0.1, score=0.9) for n, d in enumerate(["loft", "hall", "kitchen"])}
    records = _elect(claims, {"loft": 10.0, "hall": 10.01, "kitchen": 10.02}, 0.02)
    assert {r["winner"] for r in records.values()} == {"hall"}


def test_the_order_claims_arrive_in_does_not_change_the_winner() -> None:
    peers = [claim(f"room{n}", snr=20.0 + (n % 3) * 0.2, score=0.8 + (n % 4) * 0.003) for n in range(8)]
    winners = set()
    for seed in range(20):
        order = peers[:]
        random.Random(seed).shuffle(order)
        rooms = rooms_knowing("kitchen", *(c.device_id for c in peers))
        election = rooms.start(claim("kitchen", snr=10.0), T0)
        for n, peer in enumerate(order):
            assert rooms.receive(peer, T0 + 0.005 * n)
        winners.add(election.winner(T0 + 0.08).device_id)
    assert winners == {min(peers, key=rank_key).device_id}


# --- deciding before the window ends (the wake detectors fire on 80 ms frames)


def test_once_every_known_peer_has_claimed_the_result_is_ready() -> None:
    rooms = Rooms("kitchen", window_s=0.15)
    for peer in ("hall", "loft"):
        rooms.heard(peer, T0 - 10.0)
    election = rooms.start(claim("kitchen", snr=30.0), T0)
    assert election.expected == {"hall", "loft"} and rooms.current is election
    assert rooms.receive(claim("hall", snr=10.0), T0 + 0.01)
    assert not election.ready(T0 + 0.01)
    assert rooms.receive(claim("loft", snr=12.0), T0 + 0.12)  # a frame later, 20 ms each way
    assert election.ready(T0 + 0.12)
    record = election.record(T0 + 0.12)
    assert (record["result"], record["delay_ms"]) == ("won", 120.0)
    assert election.settled and not election.offer(claim("attic", snr=60.0), T0 + 0.13)


def test_a_better_claim_makes_us_lose_at_once() -> None:
    rooms = Rooms("kitchen", window_s=0.15)
    for peer in ("hall", "loft"):
        rooms.heard(peer, T0 - 10.0)
    election = rooms.start(claim("kitchen", snr=10.0), T0)
    assert not election.ready(T0)
    assert rooms.receive(claim("hall", snr=30.0), T0 + 0.002)
    assert election.ready(T0 + 0.002) and election.record(T0 + 0.002)["result"] == "lost"


def test_a_lone_appliance_or_an_election_without_peers_expects_nobody() -> None:
    assert Rooms("kitchen").start(claim("kitchen"), T0).expected == frozenset()
    election = Election(claim("kitchen"), T0)
    assert not election.ready(T0 + 0.01) and election.ready(T0 + 0.08)


@pytest.mark.parametrize("delay_s", [0.0, 0.02])
def test_rooms_a_frame_apart_agree_when_deciding_as_soon_as_ready(delay_s: float) -> None:
    """Kitchen fires a frame (80 ms) before hall, which hears it more clearly: with a window that covers a
    frame and the round trip, both name hall, kitchen as soon as hall's claim is in, hall at once."""
    kitchen, hall = Rooms("kitchen", window_s=0.15), Rooms("hall", window_s=0.15)
    kitchen.heard("hall", T0 - 10.0)
    hall.heard("kitchen", T0 - 10.0)
    mine = kitchen.start(claim("kitchen", snr=12.0), T0)
    assert hall.receive(claim("kitchen", snr=12.0), T0 + delay_s)  # held: hall has not fired yet
    theirs = hall.start(claim("hall", snr=30.0), T0 + 0.08)
    assert theirs.ready(T0 + 0.08) and theirs.record(T0 + 0.08)["result"] == "won"
    arrives = T0 + 0.08 + 2 * delay_s
    assert not mine.ready(arrives - 0.001)
    assert kitchen.receive(claim("hall", snr=30.0), arrives)
    assert mine.ready(arrives) and mine.record(arrives)["winner"] == "hall"
