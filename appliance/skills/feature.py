"""``SkillsFeature``: the skills' contribution to the daemon (intents, commands, status, the scheduler loop).

Ports, all injected by the composition root:

- ``ring(item, speech)``: play the alarm sound (:func:`.sound.alarm_tone`) in a loop, saying ``speech``
  between rings, until cancelled; the feature cancels it after ``skills.ring_s`` or on :meth:`stop_ringing`;
- ``announce(text)``: say one line (reminders, missed alarms);
- ``publish(event)``: the bus (``TimerEvent``);
- ``state_changed()``: called on the event loop after any change to timers, alarms, reminders or lists
  (republish the retained ``…/state/timers`` and ``…/state/lists`` from :meth:`timers_state` / :meth:`lists_state`);
- ``device``: a :class:`.voice.DevicePort` for volume, stop and "repeat that";
- ``peers``: a :class:`.voice.PeerPort`, the other rooms' timers (``rooms``), or None.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from appliance.core.errors import ApplianceError
from appliance.core.events import ErrorRaised, Event, RetainedState
from appliance.core.feature import Feature, Loop
from appliance.skills.clock import spoken_time, zone
from appliance.skills.commands import Handler, skill_commands
from appliance.skills.engine import Skills
from appliance.skills.events import TimerEvent
from appliance.skills.intents import SkillIntents
from appliance.skills.schedule import (
    Alarm,
    Item,
    Kind,
    Reminder,
    Timer,
)
from appliance.skills.settings import SkillsSettings
from appliance.skills.store import FILENAME, SkillStore
from appliance.skills.voice import DevicePort, PeerPort, SkillContext
from appliance.voice.reply import IntentMatcher

_LOGGER = logging.getLogger(__name__)

Ring = Callable[[Item, str], Awaitable[None]]
Announce = Callable[[str], Awaitable[None]]
IDLE_POLL_S = 1.0
"""Longest sleep between looks at the schedule (the clock may jump; a change wakes the loop at once)."""
SEEN_EVERY_S = 60.0


async def _silent_ring(item: Item, speech: str) -> None:
    _LOGGER.warning("No ring port: %s", speech)


async def _silent_announce(text: str) -> None:
    _LOGGER.warning("No announce port: %s", text)


def ring_speech(item: Item, tz: dt.tzinfo, *, clock_24h: bool) -> str:
    """What is said while it rings: 'The pasta timer is done.' / 'It's 7:00 am.' / 'Reminder: take the bins out.'."""
    if isinstance(item, Timer):
        return f"{item.label[:1].upper()}{item.label[1:]} is done."
    if isinstance(item, Reminder):
        return f"Reminder: {item.text}."
    wall = spoken_time(dt.datetime.fromtimestamp(item.due, tz), clock_24h=clock_24h)
    label = f" {item.name}." if isinstance(item, Alarm) and item.name else ""
    return f"It's {wall}.{label}"


class SkillsFeature(Feature):
    """Timers, alarms, reminders, clock, arithmetic, units and lists."""

    name = "skills"

    def __init__(
        self,
        settings: SkillsSettings,
        state_dir: Path,
        *,
        ring: Ring = _silent_ring,
        announce: Announce = _silent_announce,
        publish: Callable[[Event], None] | None = None,
        state_changed: Callable[[], None] | None = None,
        device: DevicePort | None = None,
        peers: PeerPort | None = None,
        now: Callable[[], float] = time.time,
        tz: dt.tzinfo | None = None,
    ) -> None:
        self.settings = settings
        self._ring = ring
        self._announce = announce
        self._publish = publish or (lambda event: None)
        self._state_changed = state_changed or (lambda: None)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._changed = asyncio.Event()
        self._ringing: dict[int, asyncio.Task[None]] = {}
        self._missed_done = False
        self.skills = Skills(
            SkillStore(state_dir / FILENAME), tz=tz or zone(settings.timezone), now=now,
            clock_24h=settings.clock_24h, on_event=self._on_event, on_change=self._on_change,
        )  # fmt: skip
        self.voice = SkillContext(self.skills, settings, device, self.stop_ringing, peers)
        self._intents = SkillIntents(self.voice)

    # -- thread-safe callbacks from the engine ----------------------------------------
    def _on_event(self, event: TimerEvent) -> None:
        if self._loop is not None and self._loop.is_running():
            self._loop.call_soon_threadsafe(self._publish, event)
        else:
            self._publish(event)

    def _on_change(self) -> None:
        if self._loop is not None and self._loop.is_running():
            self._loop.call_soon_threadsafe(self._changed.set)
            self._loop.call_soon_threadsafe(self._publish_state)

    # -- Feature ------------------------------------------------------------------------
    def intents(self) -> Sequence[IntentMatcher]:
        """The skill intents (the composition root puts them before home control and the LLM)."""
        return (self._intents,) if self.settings.enabled else ()

    def commands(self) -> Mapping[str, Handler]:
        """timer.*, alarm.*, reminder.set, timers.list, list.*."""
        return skill_commands(self.skills, self.settings)

    def loops(self) -> Mapping[str, Loop]:
        """The scheduler that rings what falls due."""
        return {"skills-scheduler": self.scheduler}

    def status(self) -> Mapping[str, Any] | None:
        """Counts, the next alarm and whether the database was quarantined at start."""
        if not self.skills.is_open:
            return {"available": False}
        items = self.skills.list_timers()
        alarms = [i["due"] for i in items if i["kind"] == Kind.ALARM.value]
        quarantined = self.skills.store.quarantined
        return {
            "timers": sum(i["kind"] == Kind.TIMER.value for i in items), "alarms": len(alarms),
            "reminders": sum(i["kind"] == Kind.REMINDER.value for i in items), "ringing": len(self._ringing),
            "next_alarm": min(alarms, default=None), "quarantined": str(quarantined) if quarantined else None,
            "missed_checked": self._missed_done,
        }  # fmt: skip

    async def start(self) -> None:
        """Open ``skills.db`` (quarantining a corrupt one); any other failure leaves the rest running."""
        self._loop = asyncio.get_running_loop()
        try:
            await asyncio.to_thread(self.skills.open)
        except ApplianceError as err:
            _LOGGER.error("Timers, alarms and lists are unavailable: %s [%s]", err.message, err.code)
            self._publish(ErrorRaised(code=err.code, message=err.message, stage="skills"))

    async def stop(self) -> None:
        """Stop ringing and close the store."""
        for task in list(self._ringing.values()):
            task.cancel()
        self._ringing.clear()
        if self.skills.is_open:
            await asyncio.to_thread(self.skills.close)

    # -- retained MQTT state ------------------------------------------------------------
    def timers_state(self) -> dict[str, Any]:
        """The ``…/state/timers`` payload: every item, how many run, and the next alarm (ISO 8601, or null)."""
        items = self.skills.list_timers()
        alarms = [i["due"] for i in items if i["kind"] == Kind.ALARM.value and i["state"] != "cancelled"]
        next_alarm = dt.datetime.fromtimestamp(min(alarms), self.skills.tz).isoformat() if alarms else None
        return {"timers": items, "active": sum(i["kind"] == Kind.TIMER.value for i in items), "next_alarm": next_alarm}

    def lists_state(self) -> dict[str, Any]:
        """The ``…/state/lists`` payload."""
        return {"lists": self.skills.lists()}

    def retained(self) -> Mapping[str, str]:
        """``state/timers`` and ``state/lists`` for the broker (re-sent on every connect)."""
        if not self.skills.is_open:
            return {}
        return {"timers": json.dumps(self.timers_state()), "lists": json.dumps(self.lists_state())}

    def _publish_state(self) -> None:
        for key, payload in self.retained().items():
            self._publish(RetainedState(key=key, payload=payload))
        self._state_changed()

    # -- ringing ---------------------------------------------------------------------------
    async def stop_ringing(self) -> bool:
        """Silence every ringing timer and alarm (wake word + "stop", the button, the ``stop`` command)."""
        tasks = list(self._ringing.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        return bool(tasks)

    async def scheduler(self) -> None:
        """Announce what was missed while down (once), then ring each item as it falls due."""
        if not self.skills.is_open:
            await asyncio.Event().wait()  # unavailable (reported at start): nothing will fall due
        if not self._missed_done:
            for text in await asyncio.to_thread(self.skills.missed_at_start, self.skills.now()):
                await self._announce(text)
            self._missed_done = True
        last_seen = 0.0
        while True:
            self._changed.clear()
            now = self.skills.now()
            for item in self.skills.due_items(now):
                ringing = await asyncio.to_thread(self.skills.fire, item)
                self._ringing[item.id] = asyncio.create_task(self._ring_one(ringing), name=f"skills-ring-{item.id}")
            if now - last_seen >= SEEN_EVERY_S:
                await asyncio.to_thread(self.skills.mark_seen)
                last_seen = now
            upcoming = self.skills.next_due()
            delay = IDLE_POLL_S if upcoming is None else min(IDLE_POLL_S, max(0.0, upcoming - self.skills.now()))
            await self._sleep(delay)

    async def _sleep(self, delay: float) -> None:
        """Until a change or ``delay`` seconds; asyncio.wait, not wait_for, which can swallow a cancel before 3.12."""
        waiter = asyncio.ensure_future(self._changed.wait())
        try:
            await asyncio.wait((waiter,), timeout=delay)
        finally:
            waiter.cancel()

    async def _ring_one(self, item: Item) -> None:
        speech = ring_speech(item, self.skills.tz, clock_24h=self.settings.clock_24h)
        try:
            if isinstance(item, Reminder):
                await self._announce(speech)
            else:
                await asyncio.wait_for(self._ring(item, speech), self.settings.ring_s)
        except asyncio.TimeoutError:
            _LOGGER.info("Stopped ringing %s %d after %.0f s", item.kind.value, item.id, self.settings.ring_s)
        finally:
            self._ringing.pop(item.id, None)
            try:
                self.skills.finish(item)  # tiny and synchronous: it must happen even when cancelled
            except Exception:
                _LOGGER.exception("Could not settle %s %d after ringing", item.kind.value, item.id)
