"""Alarms by voice: set (one-off or repeating, "I have to be up by six"), snooze, cancel, list."""

from __future__ import annotations

import datetime as dt
import re

from appliance.skills.clock import spoken_moment, spoken_time
from appliance.skills.durations import find_duration, spoken_duration
from appliance.skills.intents_schedule import (
    CANCEL,
    EVERY,
    STORY,
    asks_for_list,
    cancel_items,
    cancelling,
    describe,
    list_kind,
    repeat_said,
)
from appliance.skills.numbers import words
from appliance.skills.schedule import DAYS, EVERY_DAY, WEEKDAYS, WEEKENDS, Alarm, Kind, repeat_name
from appliance.skills.times import TimeOfDay
from appliance.skills.voice import NOT_WHAT_TIME, SkillContext, acting, saying
from appliance.skills.when import scan
from appliance.voice.reply import Intent

_ALARM = re.compile(r"\balarms?\b")
_DAY = r"(?:mon|tues|wednes|thurs|fri|satur|sun)days?"


def repeat_days(s: str) -> tuple[int, ...]:
    """The days an alarm repeats on, from how it was said ('every weekday' → Monday–Friday)."""
    if re.search(r"\bweekdays?\b|\bwork ?days?\b|\bmonday to friday\b", s):
        return WEEKDAYS
    if re.search(r"\bweekends?\b|\bsaturdays? and sundays?\b", s):
        return WEEKENDS
    if re.search(r"\bevery ?day\b|\bdaily\b|\beach day\b|\bevery (?:morning|night|evening|afternoon)\b", s):
        return EVERY_DAY
    said = re.findall(r"\b(?:every|each) ((?:" + _DAY + r"(?:,? and |, | )?)+)", s)
    said += re.findall(r"\b(" + _DAY[:-5] + r"days)\b", s)  # "on mondays"
    days = {n for chunk in said for n, day in enumerate(DAYS) if day in chunk}
    return tuple(sorted(days))


_UP_AT = re.compile(
    r"^(?:(?:i|we) (?:have to|need to|must|have got to|got to|gotta|should|want to|'d better|had better) "
    r"|(?:i've|we've|i'd|we'd) (?:got to|better) )?"
    r"(?:get|wake|be) up (?:at|by|for)\b"
)
"""An alarm said as the time to be up: "I have to be up by six", "get up at 5 am" (once "I need to" is cleaned off)."""
_TOMORROW = re.compile(r"\btomorrow\b(?! (?:afternoon|evening|night))")
"""An alarm for tomorrow at a bare hour is in the morning ("an alarm at six thirty tomorrow")."""


def match_alarm(ctx: SkillContext, s: str) -> Intent | None:
    """Alarms: set (one-off or repeating), snooze, cancel, list."""
    if re.search(r"\bsnooze\b", s):
        span = find_duration(s.split())
        seconds = span.value if span else ctx.settings.snooze_min * 60.0

        def snooze() -> str:
            ctx.skills.snooze(seconds)
            return f"Snoozing for {spoken_duration(seconds)}."

        return acting("alarm.snooze", "Snoozing.", snooze, {"duration_s": seconds})
    wake = re.search(r"\bwake me(?: up)?\b|\bget me up\b", s) or _UP_AT.match(s)
    if not _ALARM.search(s) and not wake:
        return None
    if CANCEL.search(s) and not wake:
        return _cancel_alarm(ctx, s)
    setting = wake or re.search(
        r"\b(?:set|create|make|add|schedule|new|put)\b|^alarms? (?:for|at)\b|\balarm (?:for|at)\b", s
    )
    if (asks_for_list(s, "alarm") and not wake) or re.search(
        r"\bwhen(?:'s| is) my (?:next )?alarm\b|\bwhat time is my\b", s
    ):
        return acting("alarms.list", "Let me check.", lambda: list_kind(ctx, Kind.ALARM))
    if not setting:
        return None
    return _set_alarm(ctx, s, prefer_morning=bool(wake or _TOMORROW.search(s)))


def _set_alarm(ctx: SkillContext, s: str, *, prefer_morning: bool) -> Intent | None:
    label = ""
    m = re.search(r"\b(?:called|named|labelled|labeled) (.+)$", s)
    if m:
        label, s = m[1].strip(), s[: m.start()].strip()
    days = repeat_days(s)
    now = ctx.now()
    tokens = words(re.sub(r"\bevery (?:day|morning|weekday|weekend)\b|\bdaily\b|\bweekdays\b|\bweekends\b", " ", s))
    found = scan(tokens, now, bare=True, prefer="am" if prefer_morning or days else None)
    if found.relative_s is not None and found.relative_s <= 0:
        return saying("alarm.set", "That time has already passed.", {"error": "in-the-past"})
    if found.due is None or (found.time is None and found.relative_s is None):
        return None if STORY.search(s) else saying("alarm.set", NOT_WHAT_TIME, {"error": "time"})
    due = found.due
    if days:
        hour, minute = due.hour, due.minute

        def repeating() -> str:
            alarm = ctx.skills.alarm_set(hour=hour, minute=minute, days=days, label=label)
            wall = dt.datetime.fromtimestamp(alarm.due, ctx.skills.tz)
            said = spoken_time(wall, clock_24h=ctx.settings.clock_24h)
            return f"Alarm set for {said} {repeat_said(repeat_name(days))}."

        data = {"hour": hour, "minute": minute, "repeat": repeat_name(days), "label": label}
        return acting("alarm.set", "Alarm set.", repeating, data)

    def one_off() -> str:
        alarm = ctx.skills.alarm_set(due.timestamp(), label=label)
        wall = dt.datetime.fromtimestamp(alarm.due, ctx.skills.tz)
        moment = spoken_moment(wall, ctx.now(), clock_24h=ctx.settings.clock_24h)
        return f"Alarm set for {moment.removeprefix('at ').removeprefix('on ')}."

    return acting("alarm.set", "Alarm set.", one_off, {"due": due.isoformat(), "label": label})


def _cancel_alarm(ctx: SkillContext, s: str) -> Intent:
    every = bool(EVERY.search(s))
    tokens = words(s)
    found = scan(tokens, ctx.now(), bare=False)
    wanted = found.time

    def cancel() -> str:
        if wanted is not None and not every:
            target = _alarm_at(ctx, wanted)
            if target is None:
                return f"You don't have an alarm at {_said_time(wanted)}."
            ctx.skills.cancel(item_id=target.id)
            return f"Cancelled {describe(ctx, target)}."
        return cancel_items(ctx, Kind.ALARM, "", every)

    data = {"every": every, "time": _said_time(wanted) if wanted else ""}
    return cancelling(ctx, "alarm.cancel", Kind.ALARM, cancel, data)


def _said_time(time: TimeOfDay) -> str:
    return f"{time.hour}:{time.minute:02d}"


def _alarm_at(ctx: SkillContext, time: TimeOfDay) -> Alarm | None:
    hours = {time.hour} if time.fixed else {time.hour24(False), time.hour24(True)}
    for item in ctx.skills.schedule.of_kind(Kind.ALARM):
        if isinstance(item, Alarm) and item.hour in hours and item.minute == time.minute:
            return item
    return None
