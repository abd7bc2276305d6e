"""The other rooms' timers, as this appliance knows them from their hellos: kept, timed, found, said.

Each appliance shares its running timers in every hello (``{"device_id", "area", "timers":
[{"id", "name", "remaining_s", "duration_s", "paused"}]}``) and sends a hello at once when
they change.  A receiver never compares its clock with the sender's: it keeps the time
left as it was *received* and counts down from its own monotonic receipt time, so two
clocks seconds apart change nothing; what is lost is only the broker's delay (tens of ms).
Pure: no I/O, no clock reads; methods take ``now`` (local monotonic seconds).  The table
is read from the skills' worker threads and written on the event loop, so one lock
guards it.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass

from appliance.core.errors import CommandError
from appliance.skills.durations import spoken_duration

MAX_TIMERS = 20
"""Timers a peer may share (as many as one appliance may run)."""
MAX_S = 24 * 3600.0
NAME_MAX = 60
ROUND_OVER_S = 120.0
"""Above this, time left is said to the minute: a peer's figure is a hello's delay old."""


class TimersRefused(CommandError, ValueError):
    """A peer's timer list that is not kept: malformed or out of range."""


@dataclass(frozen=True)
class SharedTimer:
    """One running timer as its owner shares it."""

    id: int
    """The owner's timer id (what a cancel request names)."""
    name: str
    """'pasta', or empty for an unnamed timer."""
    remaining_s: float
    """Seconds left when the owner sent it."""
    duration_s: float
    """Seconds it was set for (plus time added)."""
    paused: bool = False

    @classmethod
    def from_payload(cls, obj: object) -> SharedTimer:
        """One entry of a hello's ``timers``; raises :class:`TimersRefused` for anything else."""
        if not isinstance(obj, Mapping):
            raise TimersRefused("timers-malformed", "a timer is a JSON object")
        timer_id, name, paused = obj.get("id"), obj.get("name", ""), obj.get("paused", False)
        if isinstance(timer_id, bool) or not isinstance(timer_id, int) or not 0 < timer_id < 2**31:
            raise TimersRefused("timers-malformed", "a timer's id is a positive integer")
        if not isinstance(name, str) or len(name) > NAME_MAX or not name.isprintable():
            raise TimersRefused("timers-malformed", f"a timer's name is at most {NAME_MAX} printable characters")
        if not isinstance(paused, bool):
            raise TimersRefused("timers-malformed", "paused is true or false")
        seconds = [obj.get(key) for key in ("remaining_s", "duration_s")]
        for value in seconds:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= MAX_S:
                raise TimersRefused("timers-out-of-range", f"remaining_s and duration_s are 0..{MAX_S:g} seconds")
        return cls(timer_id, name, float(seconds[0]), float(seconds[1]), paused)  # type: ignore[arg-type]

    def to_payload(self) -> dict[str, object]:
        """The hello entry; :meth:`from_payload` reads back the same values."""
        return {
            "id": self.id,
            "name": self.name,
            "remaining_s": round(self.remaining_s, 1),
            "duration_s": round(self.duration_s, 1),
            "paused": self.paused,
        }


def timers_from_payload(obj: object) -> tuple[SharedTimer, ...]:
    """A hello's ``timers`` (absent means none); raises :class:`TimersRefused` for a bad list."""
    if obj is None:
        return ()
    if not isinstance(obj, list) or len(obj) > MAX_TIMERS:
        raise TimersRefused("timers-malformed", f"timers is a list of at most {MAX_TIMERS}")
    return tuple(SharedTimer.from_payload(entry) for entry in obj)


@dataclass(frozen=True)
class PeerTimer:
    """A peer's timer as known here."""

    device_id: str
    area: str
    timer: SharedTimer
    received: float
    """Local monotonic seconds the hello carrying it arrived."""

    def remaining(self, now: float) -> float:
        """Seconds left by our own clock: frozen while paused."""
        if self.timer.paused:
            return self.timer.remaining_s
        return max(0.0, self.timer.remaining_s - (now - self.received))

    @property
    def room(self) -> str:
        """'the kitchen' (its area, or its id when it announces none)."""
        return room_name(self.area or self.device_id)

    @property
    def label(self) -> str:
        """'a pasta timer' / 'a 10 minute timer'."""
        if self.timer.name:
            return f"a {self.timer.name} timer"
        count, unit = spoken_duration(self.timer.duration_s).split(" and ")[0].split(", ")[0].split(" ")
        article = "an" if count.startswith("8") or count in ("11", "18") else "a"
        return f"{article} {count} {unit.removesuffix('s')} timer"

    def said(self, now: float) -> str:
        """'The kitchen has a pasta timer, 4 minutes left.'"""
        left = self.remaining(now)
        if left > ROUND_OVER_S:
            left = 60.0 * math.floor(left / 60.0 + 0.5)
        state = ", paused with" if self.timer.paused else ","
        head = self.room[:1].upper() + self.room[1:]
        return f"{head} has {self.label}{state} {spoken_duration(left)} left."


def room_name(area: str) -> str:
    """How a room is said: 'the kitchen', but 'Anna's room' and 'the living room' stay as they are."""
    plain = " ".join(area.replace("_", " ").split())
    if plain.lower().startswith("the ") or "'s " in plain or not plain:
        return plain
    return f"the {plain}"


def same_name(a: str, b: str) -> bool:
    """Names and areas compared as said: case, spaces, underscores and a leading 'the' ignored."""
    return _plain(a) == _plain(b) != ""


def _plain(text: str) -> str:
    return re.sub(r"^the ", "", " ".join(text.replace("_", " ").split()).lower())


class PeerTimers:
    """Every peer's shared timers, replaced whole by each of its hellos; forgotten with the peer."""

    def __init__(self, *, forget_after_s: float = 60.0) -> None:
        self.forget_after_s = forget_after_s
        self._lock = threading.Lock()
        self._by_peer: dict[str, tuple[PeerTimer, ...]] = {}

    def update(self, device_id: str, area: str, timers: tuple[SharedTimer, ...], now: float) -> None:
        """A hello from ``device_id`` carried ``timers`` (its whole list) at ``now``."""
        kept = tuple(PeerTimer(device_id, area, timer, now) for timer in timers)
        with self._lock:
            if kept:
                self._by_peer[device_id] = kept
            else:
                self._by_peer.pop(device_id, None)

    def drop(self, device_id: str, timer_id: int) -> None:
        """The owner acknowledged cancelling ``timer_id``: gone here too, before its next hello."""
        with self._lock:
            kept = tuple(t for t in self._by_peer.get(device_id, ()) if t.timer.id != timer_id)
            if kept:
                self._by_peer[device_id] = kept
            else:
                self._by_peer.pop(device_id, None)

    def running(self, now: float) -> list[PeerTimer]:
        """Every peer timer with time left, heard within ``forget_after_s``, soonest first."""
        with self._lock:
            every = [t for timers in self._by_peer.values() for t in timers]
        fresh = [t for t in every if now - t.received <= self.forget_after_s and t.remaining(now) > 0.0]
        return sorted(fresh, key=lambda t: (t.remaining(now), t.device_id, t.timer.id))

    def matching(self, name: str, now: float) -> list[PeerTimer]:
        """Timers called ``name``; failing that, those of the room called ``name`` ('the kitchen timer');
        all of them when ``name`` is empty."""
        timers = self.running(now)
        if not name:
            return timers
        named = [t for t in timers if same_name(t.timer.name, name)]
        return named or [t for t in timers if same_name(t.area, name)]

    def said(self, name: str, now: float) -> list[str]:
        """One sentence per matching timer: 'The kitchen has a pasta timer, 4 minutes left.'"""
        return [timer.said(now) for timer in self.matching(name, now)]

    def status(self, now: float) -> list[dict[str, object]]:
        """For ``status``: each peer timer and its time left by our clock."""
        return [
            {
                "device_id": t.device_id,
                "area": t.area,
                "id": t.timer.id,
                "name": t.timer.name,
                "remaining_s": round(t.remaining(now), 1),
                "paused": t.timer.paused,
            }
            for t in self.running(now)
        ]
