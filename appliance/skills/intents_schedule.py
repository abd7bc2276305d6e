"""Timers, alarms and reminders by voice: recognise the request from its words, act only in the action."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

from appliance.skills.clock import spoken_moment, spoken_time
from appliance.skills.durations import find_duration, spoken_duration
from appliance.skills.errors import SkillError
from appliance.skills.numbers import words
from appliance.skills.phrasing import name_before, second_person
from appliance.skills.schedule import (
    DAYS,
    EVERY_DAY,
    WEEKDAYS,
    WEEKENDS,
    Alarm,
    Kind,
    check_timer_length,
    repeat_name,
)
from appliance.skills.times import TimeOfDay
from appliance.skills.voice import (
    NOT_HOW_LONG,
    NOT_WHAT_TIME,
    NOT_WHEN,
    SkillContext,
    acting,
    or_peer_timer,
    refusal,
    saying,
    with_peer_timers,
)
from appliance.skills.when import scan
from appliance.voice.reply import Intent

_CANCEL = re.compile(
    r"\b(?:cancel|stop|delete|remove|clear|turn off|switch off|dismiss|end|kill|disable|get rid of)\b"
    r"|^cancell?ed\b|\b(?:don't|do not|no longer) need\b"
)
"""Cancel; also as Whisper writes it ("canceled the timer") and as a need that ended ("we don't need the timer")."""
_TIMER = re.compile(r"\btimers?\b")
_ALARM = re.compile(r"\balarms?\b")
_REMINDER = re.compile(r"\breminders?\b")
_TAKE_OFF = re.compile(
    r"^(?:take|remove|knock|subtract|shave|cut|trim|drop)\b.*\b(?:off|from)\b"
    r"|^(?:reduce|shorten|decrease|cut|trim|lower|cut down)\b.*\btimers?\b.*\bby\b"
)
_MORE = re.compile(
    r"^(?:add|extend|give|lengthen|increase|top up|bump|stretch)\b.*\b(?:the|my|that|this|our) (?:\w+ )?timers?\b"
    r"|\b(?:more|extra|additional|another)\b(?: (?!timers?\b)[\w-]+){0,3}? (?:minutes?|seconds?|hours?|mins?|secs?)\b"
    r"|\btimers? (?:[\w-]+ ){1,4}longer\b"
)
"""Time added to a running timer: an adding verb said of *the* timer ("extend the timer by five minutes",
"give my timer another minute"), or more of it ("five more minutes on the timer")."""
_MUSING = re.compile(r"^(?:we|i|you|they|maybe we|perhaps we) (?:should|could|might|ought to|must)\b")
"""A thought about timers rather than a request for one: "we should buy a new timer"."""
_EXTRA = frozenset({"more", "extra", "additional"})


def _plain(tokens: list[str]) -> list[str]:
    """A duration said as more of it, plainly: "ten more minutes" → "ten minutes", "another minute" → "a minute"."""
    out: list[str] = []
    for word in tokens:
        if word in _EXTRA:
            if out and out[-1] == "an":  # "an extra minute"
                out[-1] = "a"
            continue
        out.append("a" if word == "another" else word)
    return out


_EVERY = re.compile(r"\b(?:all|every|both)\b|\b(?:timers|alarms|reminders)\b")
_START = re.compile(
    r"\b(?:set|start|create|make|begin|put|new|add|need|want|give me)\b"
    r"|^(?:a |an )?(?:\w+ )?timer (?:for|of)\b|^timer\b"
)


def asks_for_list(s: str, noun: str) -> bool:
    """'what timers do I have', 'do I have any alarms', 'list my reminders' (not 'what is a timer')."""
    return bool(
        re.search(rf"\b(?:what|which|how many|list|show|read|tell me)\b.*\b{noun}s\b", s)
        or re.search(rf"\b(?:do i have|have i got|are there|is there|any)\b.*\b{noun}s?\b", s)
    )


_DAY = r"(?:mon|tues|wednes|thurs|fri|satur|sun)days?"


def match_timer(ctx: SkillContext, s: str) -> Intent | None:
    """Timers: start, cancel, pause, resume, add time, how long is left, list."""
    if re.match(r"^how (?:long|much time|much longer|many minutes) (?:is |are )?(?:left|remaining|to go)$", s):
        return timer_remaining(ctx, "")
    if not _TIMER.search(s) and not re.match(r"^(?:count ?down|countdown)\b", s):
        return None
    tokens = s.split()
    name = name_before(tokens, "timer")
    if _TAKE_OFF.search(s) and (span := find_duration(tokens)) is not None:  # before "remove" reads as cancel
        return timer_add(ctx, -abs(span.value), name)
    if re.match(r"^how (?:much|many) (?:more |longer )?(?:time|minutes|seconds|hours|longer)\b", s) or re.match(
        r"^(?:is|are) (?:the|my|our|that) (?:[\w-]+ )?timers? (?:still )?(?:running|going|on|ticking)\b", s
    ):  # a question about the timer, not more time
        return timer_remaining(ctx, name)
    if _CANCEL.search(s):
        return timer_cancel(ctx, name, every=bool(_EVERY.search(s)))
    if re.search(r"\b(?:pause|hold|freeze|suspend)\b", s):
        return timer_pause(ctx, name)
    if re.search(r"\b(?:resume|continue|unpause|restart|carry on)\b|\bstart .*again\b", s):
        return timer_resume(ctx, name)
    if re.search(
        r"\bhow (?:much time|long|many (?:minutes|seconds|hours))\b|\btime (?:is )?(?:left|remaining)\b", s
    ) or (re.search(r"\b(?:check|status of)\b", s)):
        return timer_remaining(ctx, name)
    span = find_duration(tokens) or find_duration(_plain(tokens))  # "ten more minutes", "another minute"
    duration_first = span is not None and "timer" in tokens[span.end :]
    if span is not None and re.search(r"\bshorter\b", s):  # "make the timer two minutes shorter"
        return timer_add(ctx, -abs(span.value), name)
    if (re.search(r"^(?:add|put|extend|give)\b", s) and (duration_first or span is None)) or _MORE.search(s):
        if span is None:
            return saying("timer.add", NOT_HOW_LONG, {"error": "duration"})
        return timer_add(ctx, span.value, name)
    if asks_for_list(s, "timer") and span is None:
        return timers_list(ctx)
    if span is None and (_MUSING.match(s) or not _START.search(s)) and not s.startswith(("count", "countdown")):
        return None
    return _start_timer(ctx, s, tokens)


def _start_timer(ctx: SkillContext, s: str, tokens: list[str]) -> Intent:
    span = find_duration(tokens)
    if span is None:
        return saying("timer.start", NOT_HOW_LONG, {"error": "duration"})
    rest = tokens[: span.start] + tokens[span.end :]
    return timer_start(ctx, span.value, name_before(rest, "timer"))


# -- the timer actions: one builder per request, called by these rules and by appliance.understanding ------------
def timer_start(ctx: SkillContext, seconds: float, name: str = "") -> Intent:
    """Start a timer of ``seconds`` (refused in words when out of range)."""
    seconds = _whole(seconds)
    try:
        check_timer_length(seconds)
    except SkillError as err:
        return refusal("timer.start", err, {"duration_s": seconds})

    def said(duration_s: float) -> str:
        what = f"{name} timer" if name else "timer"
        return f"{what[:1].upper()}{what[1:]} set for {spoken_duration(duration_s)}."

    def start() -> str:
        return said(ctx.skills.start_timer(seconds, name).duration_s)

    data = {"duration_s": seconds, "name": name}
    return acting("timer.start", "Timer set.", start, data, expect=lambda: said(seconds))


def timer_cancel(ctx: SkillContext, name: str = "", *, every: bool = False) -> Intent:
    """Cancel the timer called ``name`` (the only one when ''), or all of them; silences one ringing."""
    work = lambda: _cancel(ctx, Kind.TIMER, name, every)  # noqa: E731
    intent = _cancelling(ctx, "timer.cancel", Kind.TIMER, work, {"name": name, "every": every})
    return or_peer_timer(ctx, intent, name, every=every)


def timer_pause(ctx: SkillContext, name: str = "") -> Intent:
    """Pause one timer."""
    return acting("timer.pause", "Paused.", lambda: f"Paused {ctx.skills.pause(name or None).label}.", {"name": name})


def timer_resume(ctx: SkillContext, name: str = "") -> Intent:
    """Resume one paused timer."""
    work = lambda: f"Resumed {ctx.skills.resume(name or None).label}."  # noqa: E731
    return acting("timer.resume", "Resumed.", work, {"name": name})


def timer_add(ctx: SkillContext, seconds: float, name: str = "") -> Intent:
    """Add ``seconds`` to a timer (``timer.add``), or take them off when negative (``timer.remove``)."""
    seconds = _whole(seconds)
    intent_name, said = ("timer.add", "Added {} to") if seconds >= 0 else ("timer.remove", "Took {} off")

    def change() -> str:
        timer = ctx.skills.add_time(seconds, name or None)
        left = spoken_duration(timer.remaining(ctx.skills.now()))
        return f"{said.format(spoken_duration(abs(seconds)))} {timer.label}; {left} left."

    return acting(intent_name, "Okay.", change, {"duration_s": abs(seconds), "name": name})


def timer_remaining(ctx: SkillContext, name: str = "") -> Intent:
    """How long is left on one timer (or each)."""
    work = lambda: with_peer_timers(ctx, _remaining(ctx, name), name)  # noqa: E731
    return acting("timer.remaining", "Let me check.", work, {"name": name})


def timers_list(ctx: SkillContext) -> Intent:
    """Which timers are running."""
    return acting("timers.list", "Let me check.", lambda: with_peer_timers(ctx, _list_kind(ctx, Kind.TIMER)))


def _whole(seconds: float) -> float:
    """Whole seconds as an int (what labels and logs show); a fraction is kept for the range check."""
    return int(seconds) if float(seconds).is_integer() else seconds


def _remaining(ctx: SkillContext, name: str) -> str:
    timers = ctx.skills.timers(name or None)
    now = ctx.skills.now()
    if not timers:
        return f"You don't have a {name} timer." if name else "You don't have any timers."
    if len(timers) == 1:
        t = timers[0]
        paused = ", paused" if t.paused_remaining_s is not None else ""
        return f"{spoken_duration(t.remaining(now))} left on {t.label}{paused}."
    return "; ".join(f"{spoken_duration(t.remaining(now))} on {t.label}" for t in timers) + "."


def _cancelling(ctx: SkillContext, name: str, kind: Kind, work: Callable[[], str], data: dict[str, object]) -> Intent:
    """Cancel, except that 'stop the timer' while one rings silences it instead."""
    intent = acting(name, "Okay.", work, data)
    cancel = intent.action
    assert cancel is not None
    said_which = bool(data.get("name") or data.get("text") or data.get("every"))

    async def act() -> str | None:
        if not said_which and any(i.kind is kind for i in ctx.skills.ringing()) and await ctx.stop_ringing():
            return "Okay."
        return await cancel()

    intent.action = act
    return intent


def _cancel(ctx: SkillContext, kind: Kind, name: str, every: bool) -> str:
    gone = ctx.skills.cancel(kind=kind, name=name or None, every=every)
    if len(gone) > 1:
        return f"Cancelled {len(gone)} {kind.value}s."
    return f"Cancelled {_describe(ctx, gone[0])}."


def _describe(ctx: SkillContext, item: object) -> str:
    if isinstance(item, Alarm):
        wall = dt.datetime(2000, 1, 1, item.hour, item.minute)
        return f"your {spoken_time(wall, clock_24h=ctx.settings.clock_24h)} alarm"
    label = getattr(item, "label", None)
    if label:
        return str(label)
    return f"the reminder to {getattr(item, 'text', '')}"


def _list_kind(ctx: SkillContext, kind: Kind) -> str:
    items = ctx.skills.list_timers(kind)
    if not items:
        return f"You don't have any {kind.value}s."
    now = ctx.now()
    parts = []
    for item in items:
        if kind is Kind.TIMER:
            label = f"{item['name']} timer" if item["name"] else "a timer"
            parts.append(f"{label} with {spoken_duration(item['remaining_s'])} left")
        else:
            due = dt.datetime.fromtimestamp(item["due"], ctx.skills.tz)
            when = spoken_moment(due, now, clock_24h=ctx.settings.clock_24h)
            if item["repeat"]:
                when = f"{spoken_time(due, clock_24h=ctx.settings.clock_24h)} {_repeat_said(item['repeat'])}"
            parts.append(f"{item['text']} {when}" if kind is Kind.REMINDER else when)
    head = f"You have {len(items)} {kind.value}{'' if len(items) == 1 else 's'}: "
    return head + "; ".join(parts) + "."


def _repeat_said(repeat: str) -> str:
    if repeat in ("daily", "weekdays", "weekends"):
        return {"daily": "every day", "weekdays": "on weekdays", "weekends": "at weekends"}[repeat]
    return "every " + " and ".join(d.capitalize() for d in repeat.split(","))


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


def match_alarm(ctx: SkillContext, s: str) -> Intent | None:
    """Alarms: set (one-off or repeating), snooze, cancel, list."""
    if re.search(r"\bsnooze\b", s):
        span = find_duration(s.split())
        seconds = span.value if span else ctx.settings.snooze_min * 60.0

        def snooze() -> str:
            ctx.skills.snooze(seconds)
            return f"Snoozing for {spoken_duration(seconds)}."

        return acting("alarm.snooze", "Snoozing.", snooze, {"duration_s": seconds})
    wake = re.search(r"\bwake me(?: up)?\b|\bget me up\b", s)
    if not _ALARM.search(s) and not wake:
        return None
    if _CANCEL.search(s) and not wake:
        return _cancel_alarm(ctx, s)
    setting = wake or re.search(
        r"\b(?:set|create|make|add|schedule|new|put)\b|^alarms? (?:for|at)\b|\balarm (?:for|at)\b", s
    )
    if (asks_for_list(s, "alarm") and not wake) or re.search(
        r"\bwhen(?:'s| is) my (?:next )?alarm\b|\bwhat time is my\b", s
    ):
        return acting("alarms.list", "Let me check.", lambda: _list_kind(ctx, Kind.ALARM))
    if not setting:
        return None
    return _set_alarm(ctx, s, prefer_morning=bool(wake))


def _set_alarm(ctx: SkillContext, s: str, *, prefer_morning: bool) -> Intent:
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
        return saying("alarm.set", NOT_WHAT_TIME, {"error": "time"})
    due = found.due
    if days:
        hour, minute = due.hour, due.minute

        def repeating() -> str:
            alarm = ctx.skills.alarm_set(hour=hour, minute=minute, days=days, label=label)
            wall = dt.datetime.fromtimestamp(alarm.due, ctx.skills.tz)
            said = spoken_time(wall, clock_24h=ctx.settings.clock_24h)
            return f"Alarm set for {said} {_repeat_said(repeat_name(days))}."

        data = {"hour": hour, "minute": minute, "repeat": repeat_name(days), "label": label}
        return acting("alarm.set", "Alarm set.", repeating, data)

    def one_off() -> str:
        alarm = ctx.skills.alarm_set(due.timestamp(), label=label)
        wall = dt.datetime.fromtimestamp(alarm.due, ctx.skills.tz)
        moment = spoken_moment(wall, ctx.now(), clock_24h=ctx.settings.clock_24h)
        return f"Alarm set for {moment.removeprefix('at ').removeprefix('on ')}."

    return acting("alarm.set", "Alarm set.", one_off, {"due": due.isoformat(), "label": label})


def _cancel_alarm(ctx: SkillContext, s: str) -> Intent:
    every = bool(_EVERY.search(s))
    tokens = words(s)
    found = scan(tokens, ctx.now(), bare=False)
    wanted = found.time

    def cancel() -> str:
        if wanted is not None and not every:
            target = _alarm_at(ctx, wanted)
            if target is None:
                return f"You don't have an alarm at {_said_time(wanted)}."
            ctx.skills.cancel(item_id=target.id)
            return f"Cancelled {_describe(ctx, target)}."
        return _cancel(ctx, Kind.ALARM, "", every)

    data = {"every": every, "time": _said_time(wanted) if wanted else ""}
    return _cancelling(ctx, "alarm.cancel", Kind.ALARM, cancel, data)


def _said_time(time: TimeOfDay) -> str:
    return f"{time.hour}:{time.minute:02d}"


def _alarm_at(ctx: SkillContext, time: TimeOfDay) -> Alarm | None:
    hours = {time.hour} if time.fixed else {time.hour24(False), time.hour24(True)}
    for item in ctx.skills.schedule.of_kind(Kind.ALARM):
        if isinstance(item, Alarm) and item.hour in hours and item.minute == time.minute:
            return item
    return None


_REMIND = re.compile(
    r"^(?:remind me|set (?:a|an|me a) reminder|create (?:a|an) reminder|add (?:a|an) reminder|make (?:a|an) reminder|"
    r"reminder)\b(?! (?:what|who|where|how|why|if|whether|of what)\b)"
)


_WHEN_FIRST = re.compile(
    r"^(?P<when>(?:in|at|on|by|tomorrow|tonight|this|next|later)\b.*?)(?: and)? (?:please )?remind me\b(?P<rest>.*)$"
)


def match_reminder(ctx: SkillContext, s: str) -> Intent | None:
    """Reminders: set ('remind me to take the bins out at seven'), list, cancel."""
    if _REMINDER.search(s) and _CANCEL.search(s):
        about = re.search(r"\b(?:about|to|for) (.+)$", s)
        name = about[1] if about else ""
        every = bool(_EVERY.search(s)) and not name
        work = lambda: _cancel(ctx, Kind.REMINDER, name, every)  # noqa: E731
        return _cancelling(ctx, "reminder.cancel", Kind.REMINDER, work, {"text": name, "every": every})
    if asks_for_list(s, "reminder"):
        return acting("reminders.list", "Let me check.", lambda: _list_kind(ctx, Kind.REMINDER))
    if first := _WHEN_FIRST.match(s):  # "in twenty minutes, remind me to …": the time said first
        s = f"remind me{first['rest']} {first['when']}"
    m = _REMIND.match(s)
    if m is None:
        return None
    tokens = s[m.end() :].split()
    found = scan(tokens, ctx.now())
    text = _reminder_text([t for n, t in enumerate(tokens) if n not in found.used])
    if found.due is None:
        return saying("reminder.set", NOT_WHEN, {"error": "when", "text": text})
    if not text:
        return saying("reminder.set", "I didn't catch what to remind you about.", {"error": "text"})
    due = found.due

    def remind() -> str:
        ctx.skills.reminder_set(text, due.timestamp())
        return f"Okay, I'll remind you to {text} {spoken_moment(due, ctx.now(), clock_24h=ctx.settings.clock_24h)}."

    if found.relative_s is not None and found.relative_s <= 0:
        return saying("reminder.set", "That time has already passed.", {"error": "in-the-past"})
    return acting("reminder.set", "Okay.", remind, {"text": text, "due": due.isoformat()})


def _reminder_text(rest: list[str]) -> str:
    while rest and rest[0] in ("to", "that", "about", "for", "me", "i", "need", "should", "have", "must", "at", "on"):
        rest = rest[1:]
    while rest and rest[-1] in ("at", "by", "please", "to", "this", "next"):
        rest = rest[:-1]
    return second_person(" ".join(rest))
