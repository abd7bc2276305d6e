"""The skills' commands for the command layer (socket, MQTT, CLI), validated with :mod:`appliance.control.args`.

``timer.start {duration_s, name?}``, ``timer.cancel {id? | name? | all?, kind?}``, ``timer.pause/resume {id? | name?}``,
``timer.add {seconds, id? | name?}``, ``alarm.set {time, repeat?, label?}``, ``alarm.cancel {id? | all?}``,
``alarm.snooze {minutes?}``, ``reminder.set {text, due? | in_s? | time?}``, ``timers.list {kind?}``,
``list.add/remove {list, items}``, ``list.show {list?}``, ``list.clear {list}``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from appliance.control import args as a
from appliance.skills.engine import (
    LIST_ALIASES,
    LISTS,
    Skills,
    list_name,
)
from appliance.skills.schedule import (
    MAX_TIMER_S,
    Item,
    Kind,
    parse_repeat,
)
from appliance.skills.settings import SkillsSettings
from appliance.skills.when import local

Handler = Callable[[Mapping[str, Any]], Awaitable[dict[str, Any]]]
_HHMM = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")
KINDS = ("timer", "alarm", "reminder", "any")


def _id(args: Mapping[str, Any]) -> int | None:
    return a.integer(args, "id", 1, 2**31) if "id" in args else None


def _name(args: Mapping[str, Any]) -> str | None:
    return a.optional_text(args, "name", max_len=60) or None


def _items(items: list[Item], now: float) -> list[dict[str, Any]]:
    return [i.as_dict(now) for i in items]


def _moment(skills: Skills, value: Any, key: str) -> tuple[float | None, tuple[int, int] | None]:
    """A due time: epoch seconds, an ISO datetime, or 'HH:MM' (the next time the clock shows it)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return a.number({key: value}, key, 0, 4e9), None
    if not isinstance(value, str) or not value.strip():
        raise a.bad(f"{key} must be 'HH:MM', an ISO date-time or Unix seconds")
    text = value.strip()
    if m := _HHMM.fullmatch(text):
        return None, (int(m[1]), int(m[2]))
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise a.bad(f"{key} must be 'HH:MM', an ISO date-time or Unix seconds, got {text[:40]!r}") from None
    if moment.tzinfo is None:
        moment = local(moment.date(), moment.hour, moment.minute, skills.tz)
    return moment.timestamp(), None


def _next_wall(skills: Skills, hour: int, minute: int) -> float:
    now = dt.datetime.fromtimestamp(skills.now(), skills.tz)
    today = local(now.date(), hour, minute, skills.tz)
    return (today if today > now else local(now.date() + dt.timedelta(days=1), hour, minute, skills.tz)).timestamp()


def skill_commands(skills: Skills, settings: SkillsSettings) -> dict[str, Handler]:
    """Every skills command by name."""
    run = asyncio.to_thread

    async def timer_start(args: Mapping[str, Any]) -> dict[str, Any]:
        seconds = a.number(args, "duration_s", 1, MAX_TIMER_S)
        timer = await run(skills.start_timer, seconds, _name(args) or "")
        return {"timer": timer.as_dict(skills.now())}

    async def timer_cancel(args: Mapping[str, Any]) -> dict[str, Any]:
        item_id, name, every = _id(args), _name(args), a.flag(args, "all", default=False)
        kind_name = a.choice(args, "kind", KINDS, default="timer")
        kind = None if kind_name == "any" or item_id is not None else Kind(kind_name)
        if item_id is None and name is None and not every:
            raise a.bad("give id, name or all")
        gone = await run(lambda: skills.cancel(item_id=item_id, name=name, kind=kind, every=every or bool(name)))
        return {"cancelled": _items(gone, skills.now())}

    async def timer_pause(args: Mapping[str, Any]) -> dict[str, Any]:
        timer = await run(skills.pause, _name(args), _id(args))
        return {"timer": timer.as_dict(skills.now())}

    async def timer_resume(args: Mapping[str, Any]) -> dict[str, Any]:
        timer = await run(skills.resume, _name(args), _id(args))
        return {"timer": timer.as_dict(skills.now())}

    async def timer_add(args: Mapping[str, Any]) -> dict[str, Any]:
        seconds = a.number(args, "seconds", -MAX_TIMER_S, MAX_TIMER_S)
        timer = await run(skills.add_time, seconds, _name(args), _id(args))
        return {"timer": timer.as_dict(skills.now())}

    async def alarm_set(args: Mapping[str, Any]) -> dict[str, Any]:
        due, wall = _moment(skills, a.get(args, "time"), "time")
        label = a.optional_text(args, "label", max_len=60) or ""
        repeat = a.optional_text(args, "repeat", max_len=80) or ""
        try:
            days = parse_repeat(repeat)
        except ValueError:
            raise a.bad("repeat must be daily, weekdays, weekends or day names like 'monday,friday'") from None
        if days and wall is None:
            raise a.bad("a repeating alarm's time must be 'HH:MM'")
        if days and wall is not None:
            alarm = await run(lambda: skills.alarm_set(hour=wall[0], minute=wall[1], days=days, label=label))
        else:
            moment = due if due is not None else _next_wall(skills, *wall)  # type: ignore[misc]
            alarm = await run(lambda: skills.alarm_set(moment, label=label))
        return {"alarm": alarm.as_dict(skills.now())}

    async def alarm_cancel(args: Mapping[str, Any]) -> dict[str, Any]:
        return await timer_cancel({**args, "kind": "alarm"} if "id" not in args else args)

    async def alarm_snooze(args: Mapping[str, Any]) -> dict[str, Any]:
        minutes = a.number(args, "minutes", 1, 180, default=float(settings.snooze_min))
        alarm = await run(skills.snooze, minutes * 60)
        return {"alarm": alarm.as_dict(skills.now())}

    async def reminder_set(args: Mapping[str, Any]) -> dict[str, Any]:
        text = a.text(args, "text", max_len=200)
        if "in_s" in args:
            moment = skills.now() + a.number(args, "in_s", 1, 366 * 86400)
        else:
            key = "due" if "due" in args else "time"
            due, wall = _moment(skills, a.get(args, key), key)
            moment = due if due is not None else _next_wall(skills, *wall)  # type: ignore[misc]
        reminder = await run(skills.reminder_set, text, moment)
        return {"reminder": reminder.as_dict(skills.now())}

    async def timers_list(args: Mapping[str, Any]) -> dict[str, Any]:
        kind_name = a.choice(args, "kind", KINDS, default="any")
        kind = None if kind_name == "any" else Kind(kind_name)
        return {"timers": await run(skills.list_timers, kind)}

    def _list(args: Mapping[str, Any]) -> str:
        return list_name(a.choice(args, "list", tuple(LIST_ALIASES)))

    def _entries(args: Mapping[str, Any]) -> list[str]:
        return list(a.names(args, "items", max_items=32, max_len=100))

    async def list_add(args: Mapping[str, Any]) -> dict[str, Any]:
        name, entries = _list(args), _entries(args)
        added = await run(skills.list_add, name, entries)
        return {"list": name, "added": added, "items": await run(skills.list_show, name)}

    async def list_remove(args: Mapping[str, Any]) -> dict[str, Any]:
        name, entries = _list(args), _entries(args)
        removed = await run(skills.list_remove, name, entries)
        return {"list": name, "removed": removed, "items": await run(skills.list_show, name)}

    async def list_show(args: Mapping[str, Any]) -> dict[str, Any]:
        if "list" not in args:
            return {"lists": await run(skills.lists)}
        name = _list(args)
        return {"list": name, "items": await run(skills.list_show, name)}

    async def list_clear(args: Mapping[str, Any]) -> dict[str, Any]:
        name = _list(args)
        return {"list": name, "cleared": await run(skills.list_clear, name)}

    handlers: dict[str, Handler] = {
        "timer.start": timer_start, "timer.cancel": timer_cancel, "timer.pause": timer_pause,
        "timer.resume": timer_resume, "timer.add": timer_add, "alarm.set": alarm_set, "alarm.cancel": alarm_cancel,
        "alarm.snooze": alarm_snooze, "reminder.set": reminder_set, "timers.list": timers_list,
        "list.add": list_add, "list.remove": list_remove, "list.show": list_show, "list.clear": list_clear,
    }  # fmt: skip
    assert all(name in LIST_ALIASES for name in LISTS)
    return handlers
