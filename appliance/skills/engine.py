"""The skills engine: one schedule and one store behind a lock, with an injected clock.

Every change is decided by :class:`.schedule.Schedule`, committed to
``skills.db`` and only then reported (as a :class:`TimerEvent`), so what
was confirmed aloud is what survives a crash.  Methods are synchronous and
thread-safe (the feature calls them through ``asyncio.to_thread``).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from typing import Any

from appliance.skills.clock import spoken_time
from appliance.skills.errors import SkillError
from appliance.skills.events import TimerAction, TimerEvent
from appliance.skills.schedule import (
    Alarm,
    Item,
    Kind,
    Reminder,
    Schedule,
    State,
    Timer,
)
from appliance.skills.store import SkillStore

_LOGGER = logging.getLogger(__name__)

LISTS = ("shopping", "to-do")
LIST_ALIASES = {"shopping": "shopping", "grocery": "shopping", "groceries": "shopping", "to-do": "to-do",
                "todo": "to-do", "to do": "to-do", "task": "to-do", "tasks": "to-do"}  # fmt: skip
MAX_LIST_ITEMS = 200


def list_name(said: str) -> str:
    """'groceries' → 'shopping', 'to do' → 'to-do'; SkillError for a list that does not exist."""
    key = LIST_ALIASES.get(said.strip().lower().removesuffix(" list"))
    if key is None:
        message = "I keep a shopping list and a to-do list."
        raise SkillError("unknown-list", f"unknown list {said!r}", message)
    return key


def _refuse(code: str, speech: str) -> SkillError:
    return SkillError(code, speech, speech)


class Skills:
    """Timers, alarms, reminders and lists, persisted; ``now`` is injected (Unix seconds)."""

    def __init__(
        self,
        store: SkillStore,
        *,
        tz: dt.tzinfo,
        now: Callable[[], float],
        clock_24h: bool = False,
        on_event: Callable[[TimerEvent], None] | None = None,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self.tz = tz
        self.now = now
        self.clock_24h = clock_24h
        self.on_event = on_event or (lambda event: None)
        self.on_change = on_change or (lambda: None)
        self.schedule = Schedule(tz)
        self._lock = threading.RLock()

    def open(self) -> Skills:
        """Open the store and load what it holds."""
        self.store.open()
        self.schedule = Schedule(self.tz, self.store.load_items())
        return self

    @property
    def is_open(self) -> bool:
        return self.store.is_open

    def close(self) -> None:
        """Close the store."""
        self.store.close()

    def _emit(self, item: Item, action: TimerAction) -> None:
        self.on_event(TimerEvent(item.id, item.kind.value, item.name or item.text, action, item.due))

    def _commit(self, *items: Item) -> None:
        self.store.save(*items)
        self.on_change()

    # -- timers -------------------------------------------------------------------
    def start_timer(self, duration_s: float, name: str = "") -> Timer:
        """Start a timer (1 s–24 h, at most 20)."""
        with self._lock:
            if name and self.schedule.find(kind=Kind.TIMER, name=name):
                raise _refuse("timer-exists", f"You already have a {name} timer.")
            timer = self.schedule.start_timer(duration_s, name, self.now())
            self._commit(timer)
        self._emit(timer, TimerAction.STARTED)
        return timer

    def timers(self, name: str | None = None, item_id: int | None = None) -> list[Timer]:
        """Timers matching ``name``/``item_id`` (all when neither), soonest first."""
        with self._lock:
            found = self.schedule.find(kind=Kind.TIMER, name=name, item_id=item_id)
        return [t for t in found if isinstance(t, Timer)]

    def one_timer(self, name: str | None = None, item_id: int | None = None) -> Timer:
        """The timer a request means; SkillError when there is none or it is ambiguous."""
        found = self.timers(name, item_id)
        if not found:
            raise _refuse("no-timer", f"You don't have a {name} timer." if name else "You don't have any timers.")
        if len(found) > 1:
            raise _refuse("which-timer", f"You have {len(found)} timers. Which one?")
        return found[0]

    def pause(self, name: str | None = None, item_id: int | None = None) -> Timer:
        """Pause one timer."""
        with self._lock:
            timer = self.schedule.pause(self.one_timer(name, item_id), self.now())
            self._commit(timer)
        return timer

    def resume(self, name: str | None = None, item_id: int | None = None) -> Timer:
        """Resume one paused timer (the paused one when only one is)."""
        with self._lock:
            paused = [t for t in self.timers(name, item_id) if t.state is State.PAUSED]
            target = paused[0] if len(paused) == 1 else self.one_timer(name, item_id)
            timer = self.schedule.resume(target, self.now())
            self._commit(timer)
        return timer

    def add_time(self, seconds: float, name: str | None = None, item_id: int | None = None) -> Timer:
        """Add (or take off) time on one timer."""
        with self._lock:
            timer = self.schedule.add_time(self.one_timer(name, item_id), seconds, self.now())
            self._commit(timer)
        return timer

    # -- alarms and reminders -----------------------------------------------------
    def alarm_set(
        self, due: float | None = None, *, hour: int = 0, minute: int = 0, days: tuple[int, ...] = (), label: str = ""
    ) -> Alarm:
        """A one-off alarm at ``due`` (Unix s) or a repeating one at hour:minute on ``days``."""
        with self._lock:
            alarm = self.schedule.set_alarm(self.now(), due=due, hour=hour, minute=minute, days=days, label=label)
            self._commit(alarm)
        self._emit(alarm, TimerAction.STARTED)
        return alarm

    def reminder_set(self, text: str, due: float) -> Reminder:
        """A reminder saying ``text`` at ``due``."""
        with self._lock:
            reminder = self.schedule.set_reminder(text, due, self.now())
            self._commit(reminder)
        self._emit(reminder, TimerAction.STARTED)
        return reminder

    def snooze(self, seconds: float) -> Alarm:
        """Snooze the ringing (or just rung) alarm."""
        with self._lock:
            alarm = self.schedule.snooze(seconds, self.now())
            if alarm is None:
                raise _refuse("nothing-to-snooze", "There's no alarm to snooze.")
            self._commit(alarm)
        self._emit(alarm, TimerAction.SNOOZED)
        return alarm

    def cancel(
        self, *, item_id: int | None = None, name: str | None = None, kind: Kind | None = None, every: bool = False
    ) -> list[Item]:
        """Cancel by id, by name, all of a kind (``every``), or the only one of ``kind``; returns what went."""
        with self._lock:
            found = self.schedule.find(kind=kind, name=name, item_id=item_id)
            if not found:
                what = f"{name} {kind.value}" if name and kind else kind.value if kind else "one"
                raise _refuse("not-found", f"You don't have {'a' if name else 'any'} {what}{'' if name else 's'}.")
            if len(found) > 1 and not every and item_id is None:
                raise _refuse("which-one", f"You have {len(found)} {kind.value if kind else 'item'}s. Which one?")
            gone = self.schedule.remove(found)
            self.store.delete(*(i.id for i in gone))
            self.on_change()
        for item in gone:
            self._emit(item, TimerAction.CANCELLED)
        return gone

    def list_timers(self, kind: Kind | None = None) -> list[dict[str, Any]]:
        """``{"id","kind","name","text","due","remaining_s","repeat","state"}`` for each item, soonest first."""
        now = self.now()
        with self._lock:
            items = self.schedule.find(kind=kind)
        return [i.as_dict(now) for i in items]

    # -- falling due ----------------------------------------------------------------
    def due_items(self, now: float) -> list[Item]:
        """What should ring now."""
        with self._lock:
            return self.schedule.due_items(now)

    def next_due(self) -> float | None:
        """When the scheduler must next look (Unix s)."""
        with self._lock:
            return self.schedule.next_due()

    def fire(self, item: Item) -> Item:
        """Mark ``item`` ringing (persisted first, then the ``finished`` event)."""
        with self._lock:
            ringing = self.schedule.fire(item, self.now())
            self._commit(ringing)
        self._emit(ringing, TimerAction.FINISHED)
        return ringing

    def finish(self, item: Item) -> None:
        """After ringing: repeating alarms move on, everything else goes."""
        with self._lock:
            left = self.schedule.finish(item, self.now())
            if left is None:
                self.store.delete(item.id)
            elif left.state is not State.RINGING:
                self.store.save(left)
            self.on_change()

    def ringing(self) -> list[Item]:
        """Items ringing now."""
        with self._lock:
            return [i for i in self.schedule.items.values() if i.state is State.RINGING]

    def missed_at_start(self, now: float) -> list[str]:
        """Settle what fell due while the daemon was down; one announcement each ('You missed your 7:00 am alarm.')."""
        with self._lock:
            missed = self.schedule.missed(now)
            if missed:
                kept = [self.schedule.items[i.id] for i in missed if i.id in self.schedule.items]
                gone = [i.id for i in missed if i.id not in self.schedule.items]
                if kept:
                    self.store.save(*kept)
                if gone:
                    self.store.delete(*gone)
                self.on_change()
        for item in missed:
            self._emit(item, TimerAction.MISSED)
        return [self.missed_speech(i) for i in missed]

    def missed_speech(self, item: Item) -> str:
        """The one announcement for a missed item."""
        if isinstance(item, Timer):
            return f"{item.label[:1].upper()}{item.label[1:]} finished while I was off."
        if isinstance(item, Reminder):
            return f"You missed a reminder: {item.text}."
        wall = dt.datetime.fromtimestamp(item.due, self.tz)
        return f"You missed your {spoken_time(wall, clock_24h=self.clock_24h)} alarm."

    def mark_seen(self) -> None:
        """Record that the daemon is running now."""
        self.store.mark_seen(self.now())

    # -- lists ------------------------------------------------------------------------
    def list_add(self, name: str, entries: list[str]) -> list[str]:
        """Add entries to a list; returns those newly added."""
        key = list_name(name)
        with self._lock:
            if len(self.store.list_items(key)) + len(entries) > MAX_LIST_ITEMS:
                raise _refuse("list-full", f"Your {key} list can hold {MAX_LIST_ITEMS} things.")
            added = self.store.list_add(key, entries, self.now())
        self.on_change()
        return added

    def list_remove(self, name: str, entries: list[str]) -> list[str]:
        """Remove entries from a list; returns those that were on it."""
        with self._lock:
            gone = self.store.list_remove(list_name(name), entries)
        self.on_change()
        return gone

    def list_show(self, name: str) -> list[str]:
        """A list's entries in the order added."""
        with self._lock:
            return self.store.list_items(list_name(name))

    def list_clear(self, name: str) -> int:
        """Empty a list; returns how many entries went."""
        with self._lock:
            count = self.store.list_clear(list_name(name))
        self.on_change()
        return count

    def lists(self) -> dict[str, list[str]]:
        """Every list (empty ones included), for the retained ``…/state/lists``."""
        with self._lock:
            stored = self.store.lists()
        return {key: stored.get(key, []) for key in LISTS}
