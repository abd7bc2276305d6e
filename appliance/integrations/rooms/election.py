"""Room election: which appliance answers a wake word heard in several rooms at once.

Each appliance that detects a wake word publishes a :class:`Claim`; those of one
``rooms.group`` collect claims for a short window and all apply one rule, :func:`rank_key`,
so they pick the same winner.  The winner answers; the others stop listening and re-arm.

Timing uses only each appliance's own monotonic clock: ``started`` is the local end of our
wake word and a peer's claim is timed by when it was *received* here, never by a timestamp
it carries, so clocks that disagree by seconds change nothing.  With the broker up to 20 ms
away each way, a peer's claim arrives ~40 ms plus the rooms' detection skew after our own
detection.  Wake detectors fire on whole 80 ms frames, so rooms hearing one wake word may fire
a frame apart: the window is 150 ms at most, and an election is decided as soon as it is
:meth:`Election.ready` (every known peer has claimed, or a clearer claim arrived), so most
decisions come well before the window ends.  A claim received
before our own detection (the peer was quicker) is held and counts if it came at most
``early_s`` before ``started``.

With no known peers an appliance decides alone at once (window 0): a lone appliance pays no
latency.  A barge-in during our own reply, or a wake while the broker is down, is not
elected either: the caller passes ``alone=True``.  Only known peers take part (heartbeats
heard for ``min_known_s``; with ``rooms.trust``, only the listed ids), rate-limited per id,
with values in range; anything else is counted and ignored, so a forged claim, a flood or a
new id cannot silence the group.  Pure: no I/O, no clock reads; methods take ``now``.
"""

from __future__ import annotations

import re
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from appliance.core.errors import CommandError

WINDOW_S = 0.08
"""Seconds after the end of our wake word during which peers' claims count."""
SNR_STEP_DB = 0.5
SCORE_STEP = 0.01
MAX_HELD = 64  # claims kept for an election not started yet; start() skips those too old for it
TEXT_MAX = 64
_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_RANGES = {"score": (0.0, 1.0), "level_dbfs": (-120.0, 0.0), "snr_db": (-20.0, 80.0)}


class ClaimRefused(CommandError, ValueError):
    """A claim that is not considered: malformed, out of range, from an unknown peer, a flood."""


@dataclass(frozen=True)
class Claim:
    """One appliance's bid to answer a wake word; every appliance of the group ranks the same values."""

    device_id: str
    """The appliance's id on the broker: 1-64 characters of ``A-Z a-z 0-9 _ -``."""
    wake_word: str
    """The wake word heard (``hey_jarvis``): 1-64 printable characters."""
    score: float
    """Wake-model score, 0..1."""
    level_dbfs: float
    """Speech level over the wake word, dBFS (-120..0)."""
    snr_db: float
    """Signal-to-noise ratio over the wake word, dB (-20..80)."""
    area: str = ""
    """The room it stands in (a Home Assistant area): at most 64 printable characters, may be empty."""

    def __post_init__(self) -> None:
        if not _ID.fullmatch(self.device_id):
            raise ClaimRefused("claim-malformed", "device_id must be 1-64 characters of A-Z a-z 0-9 _ -")
        for name, text in (("wake_word", self.wake_word), ("area", self.area)):
            if len(text) > TEXT_MAX or not text.isprintable() or (name == "wake_word" and not text):
                raise ClaimRefused("claim-malformed", f"{name} must be up to {TEXT_MAX} printable characters")
        for name, (low, high) in _RANGES.items():
            if not low <= getattr(self, name) <= high:  # NaN fails this too
                raise ClaimRefused("claim-out-of-range", f"{name} must be within {low:g}..{high:g}")

    @classmethod
    def from_payload(cls, obj: object) -> Claim:
        """Parse a claim message (decoded JSON); raises :class:`ClaimRefused` for anything else."""
        if not isinstance(obj, Mapping):
            raise ClaimRefused("claim-malformed", "a claim is a JSON object")
        values = {name: obj.get(name, "" if name == "area" else None) for name in ("device_id", "wake_word", "area")}
        if not all(isinstance(text, str) for text in values.values()):
            raise ClaimRefused("claim-malformed", "device_id, wake_word and area must be strings")
        for name in _RANGES:
            number = values[name] = obj.get(name)
            if isinstance(number, bool) or not isinstance(number, (int, float)):
                raise ClaimRefused("claim-malformed", f"{name} must be a number")
            if isinstance(number, int) and abs(number) > 1000:  # also keeps float() from overflowing
                raise ClaimRefused("claim-out-of-range", f"{name} is out of range")
        return cls(**values)

    def to_payload(self) -> dict[str, Any]:
        """The claim message (JSON-ready); :meth:`from_payload` reads back exactly the same values."""
        return asdict(self)


def rank_key(claim: Claim) -> tuple[int, int, str]:
    """The one rule as a sort key, smallest wins: clearest signal (SNR), then wake score, then smallest id.

    SNR and score are measurements: two rooms that hear the speaker equally well differ
    only by noise, and ranking on that noise would make the winner flap between them from
    one wake to the next.  Quantized (0.5 dB, 0.01), near-equal values tie and the next
    criterion decides, the same way each time.  Every appliance ranks the same payload
    values (JSON keeps floats exactly), so all of them agree.
    """
    return (-round(claim.snr_db / SNR_STEP_DB), -round(claim.score / SCORE_STEP), claim.device_id)


@dataclass(kw_only=True)
class PeerTable:
    """The group's appliances this one has heard (heartbeats, availability), and since when."""

    min_known_s: float = 2.0
    """Seconds an id must have been heard before its claims count (a new id cannot silence the group)."""
    forget_after_s: float = 60.0
    """Seconds without a heartbeat after which a peer is forgotten."""
    trust: frozenset[str] | None = None
    """``rooms.trust``: the only ids that may take part; None for any known peer."""
    max_peers: int = 64
    """Ids remembered at most (a flood of made-up ids is not)."""
    _first: dict[str, float] = field(default_factory=dict, init=False, repr=False)
    _last: dict[str, float] = field(default_factory=dict, init=False, repr=False)

    def trusted(self, device_id: str) -> bool:
        """True when ``rooms.trust`` is unset or lists ``device_id``."""
        return self.trust is None or device_id in self.trust

    def seen(self, device_id: str, now: float) -> None:
        """A heartbeat from ``device_id`` arrived at ``now`` (local monotonic seconds)."""
        if not self.trusted(device_id) or not _ID.fullmatch(device_id):
            return
        last = self._last.get(device_id)
        if last is None and len(self._last) >= self.max_peers:
            for gone in [d for d, at in self._last.items() if now - at > self.forget_after_s]:
                del self._first[gone], self._last[gone]
            if len(self._last) >= self.max_peers:
                return
        if last is None or now - last > self.forget_after_s:
            self._first[device_id] = now  # new, or back after a silence: it waits min_known_s again
        self._last[device_id] = now

    def known(self, device_id: str, now: float) -> bool:
        """True when ``device_id`` was first seen at least ``min_known_s`` ago and lately enough."""
        if device_id not in self._last:
            return False
        return now - self._first[device_id] >= self.min_known_s and now - self._last[device_id] <= self.forget_after_s

    def peers(self, now: float) -> list[str]:
        """The ids heard within ``forget_after_s`` (for ``status``), sorted."""
        return sorted(device_id for device_id, last in self._last.items() if now - last <= self.forget_after_s)


@dataclass(kw_only=True)
class RateLimit:
    """A token bucket per device id (only known peers reach it, so the ids are few)."""

    per_s: float = 2.5
    """Claims a second an id may send on average."""
    burst: int = 5
    """Claims an id may send at once."""
    dropped: Counter[str] = field(default_factory=Counter, init=False)
    """Claims refused so far, by device id."""
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict, init=False, repr=False)

    def allow(self, device_id: str, now: float) -> bool:
        """True if a claim from ``device_id`` at ``now`` is within its rate; otherwise it is counted."""
        tokens, updated = self._buckets.get(device_id, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + max(0.0, now - updated) * self.per_s)
        allowed = tokens >= 1.0
        self._buckets[device_id] = (tokens - 1.0 if allowed else tokens, now)
        if not allowed:
            self.dropped[device_id] += 1
        return allowed


class Election:
    """One local wake word's election: our claim, the peers' claims received in time, the winner."""

    def __init__(
        self,
        own: Claim,
        started: float,
        *,
        window_s: float = WINDOW_S,
        early_s: float | None = None,
        expected: frozenset[str] = frozenset(),
    ) -> None:
        self.own = own
        self.started = started
        """Local monotonic seconds at the end of our wake word."""
        self.window_s = window_s
        self.early_s = window_s if early_s is None else early_s
        self.refused: Counter[str] = Counter()
        self.settled = False
        """True once the winner was read after the window (or recorded when :meth:`ready`): later claims change
        nothing."""
        self.expected = expected
        """The peers known when it started: once each of them has claimed, no other claim can count."""
        self._claims: dict[str, Claim] = {own.device_id: own}

    @property
    def deadline(self) -> float:
        """Local monotonic seconds at which the election is decided."""
        return self.started + self.window_s

    def offer(self, claim: Claim, received: float) -> bool:
        """Consider a peer's claim received at ``received``; False (and counted) if out of time or a repeat."""
        if self.settled or received - self.started > self.window_s:
            code = "claim-late"
        elif self.started - received > self.early_s:
            code = "claim-stale"
        elif claim.device_id in self._claims:
            code = "claim-duplicate"  # one claim per appliance and wake: the first
        else:
            self._claims[claim.device_id] = claim
            return True
        self.refused[code] += 1
        return False

    def decided(self, now: float) -> bool:
        """True once the window has passed."""
        return now >= self.deadline

    def ready(self, now: float) -> bool:
        """True once our result cannot change, so a caller may decide before the window ends.

        That is when the window has passed; when a peer's claim outranks ours (we lose whatever
        else comes; the winner named is the best so far); or when every expected peer has
        claimed.  Wake detectors fire on whole 80 ms frames, so rooms that hear one wake word
        differently fire a frame or two apart: a window long enough for that skew plus the
        broker's round trip then costs nothing when every room heard the wake word.
        """
        if self.decided(now):
            return True
        own = rank_key(self.own)
        if any(rank_key(claim) < own for claim in self._claims.values()):
            return True
        return bool(self.expected) and self.expected <= self._claims.keys()

    def winner(self, now: float) -> Claim:
        """The best claim by :func:`rank_key`: final once :meth:`decided`, the best so far before."""
        if self.decided(now):
            self.settled = True
        return min(self._claims.values(), key=rank_key)

    def won(self, now: float) -> bool:
        """True when this appliance answers."""
        return self.winner(now).device_id == self.own.device_id

    def record(self, now: float) -> dict[str, Any]:
        """The decision as the ``event/election`` payload (JSON-ready); our own claim comes first."""
        self.settled = self.settled or self.ready(now)
        best = self.winner(now)
        return {
            "result": "won" if best.device_id == self.own.device_id else "lost",
            "winner": best.device_id,
            "claims": [claim.to_payload() for claim in self._claims.values()],
            "delay_ms": round((now - self.started) * 1000.0, 1),
            "refused": dict(sorted(self.refused.items())),
        }


class Rooms:
    """One appliance's side of the group: its peers, their rate limits, early claims, the election."""

    def __init__(
        self,
        device_id: str,
        *,
        peers: PeerTable | None = None,
        limit: RateLimit | None = None,
        window_s: float = WINDOW_S,
        early_s: float | None = None,
    ) -> None:
        self.device_id = device_id
        self.peers = peers or PeerTable()
        self.limit = limit or RateLimit()
        self.window_s = window_s
        self.early_s = window_s if early_s is None else early_s
        self.refused: Counter[str] = Counter()
        """Claims refused at the door since start-up, by code (an election counts late and repeated ones)."""
        self._held: deque[tuple[Claim, float]] = deque(maxlen=MAX_HELD)
        self._current: Election | None = None

    def heard(self, device_id: str, now: float) -> None:
        """A peer's heartbeat or availability message arrived at ``now``."""
        if device_id != self.device_id:
            self.peers.seen(device_id, now)

    def receive_payload(self, obj: object, now: float) -> bool:
        """A claim message arrived: parse it and :meth:`receive` it; a bad one is counted, not raised."""
        try:
            claim = Claim.from_payload(obj)
        except ClaimRefused as err:
            return self._refuse(err.code, now)
        return self.receive(claim, now)

    def receive(self, claim: Claim, now: float) -> bool:
        """A peer's claim arrived at ``now``: True if it counts, now or for an election about to start."""
        if claim.device_id == self.device_id:
            return False  # our own claim, echoed by the broker
        if not self.peers.trusted(claim.device_id):
            return self._refuse("claim-untrusted", now)
        if not self.peers.known(claim.device_id, now):
            return self._refuse("claim-unknown-peer", now)
        if not self.limit.allow(claim.device_id, now):
            return self._refuse("claim-rate-limited", now)
        current = self._current
        if current is not None and now <= current.deadline + self.window_s:
            return current.offer(claim, now)  # in time, or counted there as late
        self._held.append((claim, now))
        return True

    def start(self, own: Claim, started: float, *, alone: bool = False) -> Election:
        """Our wake word ended at ``started``: open its election (decided at once when alone)."""
        known = frozenset(peer for peer in self.peers.peers(started) if self.peers.known(peer, started))
        alone = alone or not known
        window = 0.0 if alone else self.window_s
        election = Election(
            own, started, window_s=window, early_s=self.early_s, expected=frozenset() if alone else known
        )
        for claim, received in self._held:
            if not alone and received >= started - election.early_s:
                election.offer(claim, received)
        self._held.clear()
        self._current = election
        return election

    @property
    def current(self) -> Election | None:
        """The latest election, settled or not (asked :meth:`Election.ready` as claims arrive)."""
        return self._current

    def _refuse(self, code: str, now: float) -> bool:
        self.refused[code] += 1
        if self._current is not None and not self._current.settled and now <= self._current.deadline:
            self._current.refused[code] += 1
        return False
