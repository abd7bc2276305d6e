"""Timers, alarms and reminders as a pure model: what is set, when it is due, what a request changes.

No clock, no I/O: every operation takes ``now`` (Unix seconds) and the
schedule's time zone turns wall times into moments (DST-aware through
:mod:`zoneinfo`).  :mod:`.engine` persists what this decides.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from appliance.skills.durations import spoken_duration
from appliance.skills.errors import SkillError
from appliance.skills.when import local

MIN_TIMER_S = 1.0
MAX_TIMER_S = 24 * 3600.0
MAX_TIMERS = 20
MAX_ALARMS = 50
"""Alarms and reminders each (not named by the issue; generous, but bounded)."""
MAX_AHEAD_S = 365 * 86400.0
MISSED_GRACE_S = 30.0
"""An item found overdue by at most this much at start still rings; later ones are announced as missed."""
SNOOZE_WINDOW_S = 15 * 60.0
"""How long after an alarm rang "snooze" still applies to it."""
DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
EVERY_DAY = (0, 1, 2, 3, 4, 5, 6)
WEEKDAYS = (0, 1, 2, 3, 4)
WEEKENDS = (5, 6)


class Kind(str, Enum):
    TIMER = "timer"
    ALARM = "alarm"
    REMINDER = "reminder"


class State(str, Enum):
    RUNNING = "running"
    """Timers counting down; alarms and reminders waiting for their moment."""
    PAUSED = "paused"
    RINGING = "ringing"
    SNOOZED = "snoozed"


@dataclass(frozen=True)
class Item:
    """Base of the three kinds: one entry in the schedule."""

    id: int
    due: float
    """Unix seconds it falls due (for a paused timer: when it would have, had it not paused)."""
    state: State = State.RUNNING
    name: str = ""
    created: float = 0.0
    kind = Kind.TIMER

    def remaining(self, now: float) -> float:
        """Seconds until due (never negative)."""
        return max(0.0, self.due - now)

    @property
    def repeat(self) -> tuple[int, ...]:
        return ()

    @property
    def text(self) -> str:
        return ""

    def as_dict(self, now: float) -> dict[str, Any]:
        """The ``timers.list`` shape: id, kind, name, text, due (epoch s), remaining_s, repeat, state."""
        return {
            "id": self.id,
            "kind": self.kind.value,
            "name": self.name,
            "text": self.text,
            "due": round(self.due, 3),
            "remaining_s": round(self.remaining(now), 1),
            "repeat": repeat_name(self.repeat),
            "state": self.state.value,
        }


@dataclass(frozen=True)
class Timer(Item):
    duration_s: float = 0.0
    """As set (plus any time added)."""
    paused_remaining_s: float | None = None
    kind = Kind.TIMER

    def remaining(self, now: float) -> float:
        """Seconds left; frozen while paused."""
        if self.paused_remaining_s is not None:
            return self.paused_remaining_s
        return max(0.0, self.due - now)

    @property
    def label(self) -> str:
        """'the pasta timer' / 'the 10 minute timer'."""
        return f"the {self.name} timer" if self.name else f"the {spoken_duration(self.duration_s)} timer"


@dataclass(frozen=True)
class Alarm(Item):
    hour: int = 0
    minute: int = 0
    days: tuple[int, ...] = ()
    """Weekdays it repeats on (0 = Monday); empty = one-off."""
    kind = Kind.ALARM

    @property
    def repeat(self) -> tuple[int, ...]:
        return self.days


@dataclass(frozen=True)
class Reminder(Item):
    message: str = ""
    kind = Kind.REMINDER

    @property
    def text(self) -> str:
        return self.message


def repeat_name(days: Iterable[int]) -> str:
    """'' (one-off), 'daily', 'weekdays', 'weekends' or 'monday,wednesday'."""
    days = tuple(sorted(set(days)))
    if not days:
        return ""
    named = {EVERY_DAY: "daily", WEEKDAYS: "weekdays", WEEKENDS: "weekends"}
    return named.get(days, ",".join(DAYS[d] for d in days))


def parse_repeat(value: str) -> tuple[int, ...]:
    """The inverse of :func:`repeat_name`; raises ValueError on an unknown day."""
    value = value.strip().lower()
    if not value:
        return ()
    named = {"daily": EVERY_DAY, "weekdays": WEEKDAYS, "weekends": WEEKENDS}
    if value in named:
        return named[value]
    return tuple(sorted({DAYS.index(part.strip()) for part in value.split(",")}))


def next_alarm(hour: int, minute: int, days: tuple[int, ...], after: float, tz: dt.tzinfo) -> float:
    """The first moment strictly after ``after`` that the wall clock in ``tz`` shows hour:minute on one of ``days``."""
    start = dt.datetime.fromtimestamp(after, tz).date()
    for offset in range(8):
        date = start + dt.timedelta(days=offset)
        if days and date.weekday() not in days:
            continue
        moment = local(date, hour, minute, tz).timestamp()
        if moment > after:
            return moment
    raise AssertionError("a repeating alarm always has a next day")


def _refuse(code: str, message: str) -> SkillError:
    return SkillError(code, message, message)


class Schedule:
    """Every active timer, alarm and reminder, and the rules for changing them."""

    def __init__(self, tz: dt.tzinfo, items: Iterable[Item] = ()) -> None:
        self.tz = tz
        self.items: dict[int, Item] = {item.id: item for item in items}
        self.last_rung: tuple[Alarm, float] | None = None

    def _next_id(self) -> int:
        return max(self.items, default=0) + 1

    def of_kind(self, kind: Kind) -> list[Item]:
        """Items of one kind, soonest first."""
        return sorted((i for i in self.items.values() if i.kind is kind), key=lambda i: (i.due, i.id))

    # -- timers -------------------------------------------------------------------
    def start_timer(self, duration_s: float, name: str, now: float) -> Timer:
        """A new running timer; refuses durations outside 1 s–24 h and a 21st timer."""
        check_timer_length(duration_s)
        if len(self.of_kind(Kind.TIMER)) >= MAX_TIMERS:
            raise _refuse("too-many-timers", f"You already have {MAX_TIMERS} timers, the most I can keep.")
        name = name.strip().lower()
        timer = Timer(self._next_id(), now + duration_s, name=name, created=now, duration_s=duration_s)
        self.items[timer.id] = timer
        return timer

    def pause(self, timer: Timer, now: float) -> Timer:
        """Freeze a running timer's remaining time."""
        if timer.state is not State.RUNNING:
            return timer
        paused = dataclasses.replace(timer, state=State.PAUSED, paused_remaining_s=timer.remaining(now))
        self.items[timer.id] = paused
        return paused

    def resume(self, timer: Timer, now: float) -> Timer:
        """Start a paused timer again from where it stopped."""
        if timer.paused_remaining_s is None:
            return timer
        running = dataclasses.replace(
            timer, state=State.RUNNING, due=now + timer.paused_remaining_s, paused_remaining_s=None
        )
        self.items[timer.id] = running
        return running

    def add_time(self, timer: Timer, seconds: float, now: float) -> Timer:
        """Lengthen (or, negative, shorten) a timer; the result must still be 1 s–24 h from now."""
        left = timer.remaining(now) + seconds
        check_timer_length(left)
        if timer.paused_remaining_s is not None:
            changed = dataclasses.replace(timer, paused_remaining_s=left, duration_s=timer.duration_s + seconds)
        else:
            changed = dataclasses.replace(timer, due=now + left, duration_s=timer.duration_s + seconds)
        self.items[timer.id] = changed
        return changed

    # -- alarms and reminders -----------------------------------------------------
    def set_alarm(
        self, now: float, *, due: float | None = None, hour: int = 0, minute: int = 0, days: tuple[int, ...] = (),
        label: str = "",
    ) -> Alarm:  # fmt: skip
        """A one-off alarm at ``due`` or a repeating one at hour:minute on ``days``."""
        if days:
            due = next_alarm(hour, minute, days, now, self.tz)
        if due is None:
            raise _refuse("bad-time", "I didn't catch what time.")
        check_ahead(due, now, "Alarms")
        if len(self.of_kind(Kind.ALARM)) >= MAX_ALARMS:
            raise _refuse("too-many-alarms", f"You already have {MAX_ALARMS} alarms, the most I can keep.")
        wall = dt.datetime.fromtimestamp(due, self.tz)
        alarm = Alarm(
            self._next_id(), due, name=label.strip(), created=now, hour=wall.hour if not days else hour,
            minute=wall.minute if not days else minute, days=tuple(sorted(set(days))),
        )  # fmt: skip
        self.items[alarm.id] = alarm
        return alarm

    def set_reminder(self, text: str, due: float, now: float) -> Reminder:
        """A reminder that says ``text`` at ``due``."""
        check_ahead(due, now, "Reminders")
        if len(self.of_kind(Kind.REMINDER)) >= MAX_ALARMS:
            raise _refuse("too-many-reminders", f"You already have {MAX_ALARMS} reminders, the most I can keep.")
        reminder = Reminder(self._next_id(), due, created=now, message=text.strip())
        self.items[reminder.id] = reminder
        return reminder

    def snooze(self, seconds: float, now: float) -> Alarm | None:
        """Ring the alarm that is ringing (or rang in the last 15 minutes) again ``seconds`` from now."""
        ringing = [i for i in self.of_kind(Kind.ALARM) if i.state is State.RINGING]
        alarm: Alarm | None = ringing[0] if ringing and isinstance(ringing[0], Alarm) else None
        if alarm is None and self.last_rung is not None and now - self.last_rung[1] <= SNOOZE_WINDOW_S:
            alarm = self.items.get(self.last_rung[0].id, self.last_rung[0])  # type: ignore[assignment]
        if alarm is None:
            return None
        if not 60 <= seconds <= 3 * 3600:
            raise _refuse("bad-snooze", "I can snooze for 1 minute up to 3 hours.")
        snoozed = dataclasses.replace(alarm, due=now + seconds, state=State.SNOOZED)
        self.items[alarm.id] = snoozed
        return snoozed

    # -- finding and removing -----------------------------------------------------
    def find(self, *, kind: Kind | None = None, name: str | None = None, item_id: int | None = None) -> list[Item]:
        """Items matching every criterion given, soonest first."""
        found = sorted(self.items.values(), key=lambda i: (i.due, i.id))
        if kind is not None:
            found = [i for i in found if i.kind is kind]
        if item_id is not None:
            found = [i for i in found if i.id == item_id]
        if name:
            wanted = name.strip().lower()
            found = [i for i in found if i.name.lower() == wanted or wanted in i.text.lower()]
        return found

    def remove(self, items: Iterable[Item]) -> list[Item]:
        """Drop ``items``; returns those that were there."""
        return [self.items.pop(i.id) for i in list(items) if i.id in self.items]

    # -- falling due --------------------------------------------------------------
    def due_items(self, now: float) -> list[Item]:
        """Items whose moment has come and that are not already ringing or paused."""
        return [
            i for i in sorted(self.items.values(), key=lambda i: i.due)
            if i.due <= now and i.state in (State.RUNNING, State.SNOOZED)
        ]  # fmt: skip

    def next_due(self) -> float | None:
        """When the next item falls due (for the scheduler's sleep), or None."""
        waiting = [i.due for i in self.items.values() if i.state in (State.RUNNING, State.SNOOZED)]
        return min(waiting, default=None)

    def fire(self, item: Item, now: float) -> Item:
        """Mark ``item`` ringing; returns it as it rings."""
        ringing = dataclasses.replace(item, state=State.RINGING)
        self.items[item.id] = ringing
        if isinstance(ringing, Alarm):
            self.last_rung = (ringing, now)
        return ringing

    def finish(self, item: Item, now: float) -> Item | None:
        """After ringing (stopped or timed out): a repeating alarm moves to its next day; others go."""
        current = self.items.get(item.id)
        if current is None or current.state is not State.RINGING:
            return current
        if isinstance(current, Alarm) and current.days:
            later = next_alarm(current.hour, current.minute, current.days, now, self.tz)
            moved = dataclasses.replace(current, due=later, state=State.RUNNING)
            self.items[current.id] = moved
            return moved
        del self.items[current.id]
        return None

    def missed(self, now: float) -> list[Item]:
        """Items that fell due while the daemon was down (more than the grace ago), settled: never rung late.

        One-off items are removed, repeating alarms moved to their next day after ``now``.
        Returns each missed item as it was (for one announcement each).
        """
        late = [i for i in self.items.values() if i.due < now - MISSED_GRACE_S or i.state is State.RINGING]
        for item in late:
            if isinstance(item, Alarm) and item.days:
                later = next_alarm(item.hour, item.minute, item.days, now, self.tz)
                self.items[item.id] = dataclasses.replace(item, due=later, state=State.RUNNING)
            elif not (isinstance(item, Timer) and item.state is State.PAUSED):
                del self.items[item.id]
        return sorted((i for i in late if not (isinstance(i, Timer) and i.state is State.PAUSED)), key=lambda i: i.due)


def check_timer_length(seconds: float) -> None:
    """Refuse a timer outside 1 second–24 hours, naming the limit."""
    if seconds < 0:
        raise _refuse("timer-negative", "A timer can't be negative. Timers can be from 1 second to 24 hours.")
    if seconds < MIN_TIMER_S:
        raise _refuse("timer-too-short", "That's too short. Timers can be from 1 second to 24 hours.")
    if seconds > MAX_TIMER_S:
        raise _refuse("timer-too-long", "That's too long. Timers can be from 1 second to 24 hours.")


def check_ahead(due: float, now: float, what: str) -> None:
    """Refuse a moment in the past or more than a year ahead, naming the limit."""
    if due <= now:
        raise _refuse("in-the-past", "That time has already passed.")
    if due - now > MAX_AHEAD_S:
        raise _refuse("too-far-ahead", f"That's too far ahead. {what} can be set up to a year ahead.")
