"""The rooms bench's scoring: what each trial showed, and the figures over a condition's trials.

Pure: it reads :class:`TrialRecord`s (filled by :mod:`appliance.bench.rooms`) and computes
how often exactly one appliance answered, whether it was the best placed (the clearest, and
the nearest), end of wake word -> decision, double actions, and what Home Assistant's rule
(first claim wins, 2 s cooldown) would have picked from the claims' arrival order.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from appliance.bench.harness import percentile
from appliance.bench.rooms_mix import Trial

YIELDED = "yielded"


@dataclass
class Election:
    """One daemon's ``event/election`` for a trial."""

    device: str
    result: str
    """``won`` or ``lost``."""
    winner: str
    delay_ms: float
    """The daemon's own: its wake frame read -> decided, on its monotonic clock."""
    arrived: float
    """Monotonic seconds the bench's subscriber received the event."""
    claims: int = 0
    """How many claims the decision counted (its own included)."""


@dataclass
class TrialRecord:
    """What one trial showed."""

    trial: Trial
    broker_up: bool = True
    wake_end: float | None = None
    """Monotonic seconds the wake word's last voiced sample was written to the daemons (the same for all)."""
    wake_end_s: float | None = None
    """Where the wake word's last voiced sample lies in the stream every daemon reads (seconds)."""
    heard: dict[str, float] = field(default_factory=dict)
    """Devices whose log said they heard the wake word, and where in the stream (its ``at_s``: the end of the
    80 ms frame that fired)."""
    outcomes: dict[str, list[str]] = field(default_factory=dict)
    """Each device's turns that ended during the trial: their outcomes."""
    elections: list[Election] = field(default_factory=list)
    claims: list[tuple[float, str]] = field(default_factory=list)
    """(arrival, device id) of every claim the bench's subscriber saw, in arrival order."""
    claimed_snr: dict[str, float] = field(default_factory=dict)
    """The SNR each device measured over the wake word and claimed with, dB."""
    timers: dict[str, int] = field(default_factory=dict)
    """Timers running on each device after the trial (the request sets one)."""
    timers_right: dict[str, int] = field(default_factory=dict)
    """Of those, how many have the trial's duration."""
    busy: list[str] = field(default_factory=list)
    """Devices that heard the wake word and were still in that turn when the trial ended (stopped then)."""
    states: dict[str, str] = field(default_factory=dict)
    """Each device's rooms state from ``status`` right after the trial (``electing``, ``alone (broker down)``)."""

    @property
    def answered(self) -> list[str]:
        """Devices that took the turn: a wake word heard and not yielded to a peer (or still going at the end)."""
        took = {d for d, outs in self.outcomes.items() if any(o != YIELDED for o in outs)}
        return sorted(took | set(self.busy))

    @property
    def acted(self) -> list[str]:
        return sorted(d for d, n in self.timers.items() if n > 0)

    @property
    def first_claim(self) -> str | None:
        return min(self.claims)[1] if self.claims else None

    def detected_ms(self) -> list[float]:
        """End of wake word (written) -> each daemon's detection (its decision's arrival less its own delay_ms), ms:
        the 80 ms frame, the wake model and the machine's load, on the bench's clock."""
        if self.wake_end is None:
            return []
        return [round((e.arrived - self.wake_end) * 1000.0 - e.delay_ms, 1) for e in self.elections]

    def latencies_ms(self) -> list[float]:
        """End of wake word (written) -> each election event's arrival at the bench, ms."""
        if self.wake_end is None:
            return []
        return [round((e.arrived - self.wake_end) * 1000.0, 1) for e in self.elections]

    def detection_ms(self) -> dict[str, float]:
        """End of the wake word -> the end of the frame each device's detector fired on, in audio time, ms."""
        if self.wake_end_s is None:
            return {}
        return {d: round((at - self.wake_end_s) * 1000.0, 1) for d, at in sorted(self.heard.items())}

    @property
    def skew_ms(self) -> float | None:
        """How much later the last device to hear the wake word fired than the first (audio time, ms)."""
        fired = list(self.heard.values())
        return round((max(fired) - min(fired)) * 1000.0, 1) if len(fired) > 1 else None

    def as_row(self) -> dict[str, Any]:
        t = self.trial
        return {
            "trial": t.index,
            "kind": t.kind,
            "minutes": t.minutes,
            "nearest": t.nearest,
            "clearest": t.clearest,
            "snr_db": {p.device: p.snr_db for p in t.placements},
            "broker_up": self.broker_up,
            "heard": sorted(self.heard),
            "answered": self.answered,
            "busy_at_end": self.busy,
            "acted": self.acted,
            "winners": sorted({e.winner for e in self.elections}),
            "won": sorted(e.device for e in self.elections if e.result == "won"),
            "detection_ms": self.detection_ms(),
            "skew_ms": self.skew_ms,
            "decision_ms": self.latencies_ms(),
            "delay_ms": [e.delay_ms for e in self.elections],
            "claims_order": [d for _, d in sorted(self.claims)],
            "claimed_snr_db": self.claimed_snr,
            "states": self.states,
        }


def _dist(values: list[float]) -> dict[str, Any]:
    return {
        "p50": percentile(values, 0.5),
        "p99": percentile(values, 0.99),
        "max": round(max(values), 1) if values else None,
        "n": len(values),
    }


def _rate(hits: int, total: int) -> float | None:
    return round(hits / total, 4) if total else None


def score(records: list[TrialRecord], *, target_ms: float = 150.0) -> dict[str, Any]:
    """The figures over ``records`` where the broker was up (those with it down are in :func:`score_alone`)."""
    up = [r for r in records if r.broker_up]
    one = [r for r in up if len(r.answered) == 1]
    clearest = sum(r.answered == [r.trial.clearest] for r in up)
    nearest = sum(r.answered == [r.trial.nearest] for r in up)
    differ = [r for r in up if r.trial.clearest != r.trial.nearest]
    latencies = [ms for r in up for ms in r.latencies_ms()]
    delays = [e.delay_ms for r in up for e in r.elections]
    agree = sum(len({e.winner for e in r.elections}) == 1 for r in up if r.elections)
    won_once = sum(sum(e.result == "won" for e in r.elections) == 1 for r in up)
    with_claims = [r for r in up if r.claims]
    measured = [r for r in up if r.claimed_snr]
    ranked_right = sum(max(r.claimed_snr, key=r.claimed_snr.__getitem__) == r.trial.clearest for r in measured)
    first_wrong = sum(r.first_claim != r.trial.clearest for r in with_claims)
    first_not_nearest = sum(r.first_claim != r.trial.nearest for r in with_claims)
    first_wrong_differ = sum(r.first_claim != r.trial.clearest for r in with_claims if r in differ)
    return {
        "trials": len(up),
        "exactly_one_answered": len(one),
        "exactly_one_rate": _rate(len(one), len(up)),
        "answered_count": dict(sorted(Counter(len(r.answered) for r in up).items())),
        "best_placed_won": clearest,
        "best_placed_rate": _rate(clearest, len(up)),
        "nearest_won": nearest,
        "nearest_rate": _rate(nearest, len(up)),
        "trials_nearest_not_clearest": len(differ),
        "best_placed_rate_there": _rate(sum(r.answered == [r.trial.clearest] for r in differ), len(differ)),
        "heard_by": dict(sorted(Counter(len(r.heard) for r in up).items())),
        "claimed_snr_ranks_best_placed_first": {"trials": len(measured), "right": ranked_right},
        "elections_agreeing": agree,
        "elections_won_once": won_once,
        "end_of_wake_to_decision_ms": _dist(latencies) | {"target_p99": target_ms},
        "within_target": sum(ms <= target_ms for ms in latencies),
        "daemon_delay_ms": _dist(delays),
        "wake_end_to_detection_ms": _dist([ms for r in up for ms in r.detection_ms().values()])
        | {"clock": "audio time: the end of the 80 ms frame the detector fired on"},
        "wake_end_to_detection_wall_ms": _dist([ms for r in up for ms in r.detected_ms()]),
        "detection_skew_ms": dict(sorted(Counter(str(r.skew_ms) for r in up if r.skew_ms is not None).items())),
        "answered_by_skew": _by_skew(up),
        "double_actions": sum(len(r.acted) > 1 for r in up),
        "no_action": sum(not r.acted for r in up),
        "action_right_duration": sum(sum(r.timers_right.values()) == 1 for r in up),
        "ha_rule": {
            "rule": "first claim wins, 2 s cooldown",
            "trials_with_claims": len(with_claims),
            "first_claim_not_best_placed": first_wrong,
            "wrong_rate": _rate(first_wrong, len(with_claims)),
            "first_claim_not_nearest": first_not_nearest,
            "wrong_rate_where_nearest_not_clearest": _rate(
                first_wrong_differ, sum(1 for r in with_claims if r in differ)
            ),
        },
    }


def _by_skew(records: list[TrialRecord]) -> dict[str, dict[str, int]]:
    """Trials and single answers by how far apart the devices' detections fell (the election's hard case)."""
    out: dict[str, dict[str, int]] = {}
    for r in records:
        row = out.setdefault(str(r.skew_ms), {"trials": 0, "exactly_one": 0})
        row["trials"] += 1
        row["exactly_one"] += len(r.answered) == 1
    return dict(sorted(out.items()))


def score_alone(records: list[TrialRecord]) -> dict[str, Any]:
    """Trials run while the broker was down: each appliance that heard the wake word should answer alone."""
    down = [r for r in records if not r.broker_up]
    heard = sum(len(r.heard) for r in down)
    answered = sum(len(r.answered) for r in down)
    states = Counter(s for r in down for s in r.states.values())
    return {
        "trials": len(down),
        "heard": heard,
        "answered_alone": answered,
        "all_who_heard_answered": sum(set(r.answered) == set(r.heard) for r in down),
        "actions": sum(len(r.acted) for r in down),
        "elections_published": sum(len(r.elections) for r in down),
        "status_states": dict(sorted(states.items())),
    }
