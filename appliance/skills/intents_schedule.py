"""Timers, alarms and reminders by voice: recognise the request from its words, act only in the action."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

from appliance.skills.clock import spoken_moment, spoken_time
from appliance.skills.durations import find_duration, spoken_duration
from appliance.skills.errors import SkillError
from appliance.skills.phrasing import name_before
from appliance.skills.schedule import (
    Alarm,
    Kind,
    check_timer_length,
)
from appliance.skills.timer_names import forms, mentioned, running_name
from appliance.skills.voice import (
    NOT_HOW_LONG,
    SkillContext,
    acting,
    or_peer_timer,
    refusal,
    saying,
    with_peer_timers,
)
from appliance.voice.reply import Intent

CANCEL = re.compile(
    r"\b(?:cancel|stop|delete|remove|clear|turn off|switch off|dismiss|end|kill|disable|get rid of)\b"
    r"|^cancell?ed\b|\b(?:don't|do not|no longer) need\b|^(?:turn|switch) (?:[\w']+ ){1,3}off$"
)
"""Cancel; also as Whisper writes it ("canceled the timer"), as a need that ended ("we don't need the timer"),
and switched off ("turn the pasta timer off")."""
_FOR_NOW = re.compile(
    r"\bfor (?:a (?:moment|minute|sec|second|bit|while|little while)|now|the moment|the time being)(?:$| and\b)"
    r"|\b(?:don't|do not) cancel\b|\bhold (?:on|it)\b"
)
"""Stopped only for a while: "stop the tea timer for a moment", "… don't cancel it" pause it."""
STORY = re.compile(
    r"^(?:my|his|her|their|our|the|he|she|they|someone|somebody|everyone) (?:[\w']+ ){0,2}?"
    r"(?:set|started|forgot|left|had|made|put|got|bought|broke|\w+ed)\b|\bforg[oe]t(?:ten)? (?:about )?it\b"
    r"|\b(?:always|never|usually|often|sometimes)\b"
)
"""A story or a habit, not a request for a timer: "my son set a timer and forgot it", "I never use a timer"."""
_ASKS_LEFT = re.compile(
    r"^how (?:much longer|many more (?:minutes|seconds|hours))\b"
    r"|^how (?:long|much time|many (?:minutes|seconds|hours))\b.*\b(?:until|till|left|remaining|to go|on the|on my)\b"
    r"|^(?:when (?:will|does|is|do|are)|when's|is|are|will)\b.*\b(?:done|ready|finished|go off|goes off|ring|cooked)\b"
    r"|\b(?:time )?(?:left|remaining) (?:on|for|with)\b"
)
"""A question about a running timer by its name alone: "how long until the eggs are done"."""
_ASKS_TIMER = re.compile(
    r"^how (?:much|many) (?:more |longer )?(?:time|minutes|seconds|hours|longer)\b"
    r"|^when(?:'s| does| will| is| do| are)\b"
    r"|^(?:is|are) (?:the|my|our|that) (?:[\w-]+ )?timers? (?:still )?(?:running|going|on|ticking)\b"
)
"""A question about the timer said ("when does the pasta timer go off", "is my timer still going")."""
_MORE_OF = re.compile(r"\b(?:more|extra|another|additional|plus|longer)\b|^(?:add|put|give)\b")
_LESS = re.compile(r"\b(?:less|fewer|shorter)\b")
_VERB_NAMED = re.compile(
    r"^(?P<verb>pause|hold|freeze|resume|unpause|continue|restart|cancel|stop|delete|kill|end|clear|get rid of) "
    r"(?:the |my |our )?(?P<what>[\w']+(?: [\w']+)?)$"
)
"""A verb said of a running timer by its name alone: "pause the pasta", "cancel the laundry"."""
_GO_ON = frozenset({"unpause", "continue", "restart"})
_TIMER = re.compile(r"\btimers?\b")
_TAKE_OFF = re.compile(
    r"^(?:take|remove|knock|subtract|shave|cut|trim|drop)\b.*\b(?:off|from)\b"
    r"|^(?:reduce|shorten|decrease|cut|trim|lower|cut down)\b.*\btimers?\b.*\bby\b"
)
_MORE = re.compile(
    r"^(?:add|extend|give|lengthen|increase|top up|bump|stretch)\b.*\b(?:the|my|that|this|our) (?:\w+ )?timers?\b"
    r"|\b(?:more|extra|additional|another)\b(?: (?!timers?\b)[\w-]+){0,3}? (?:minutes?|seconds?|hours?|mins?|secs?)\b"
    r"|\btimers? (?:[\w-]+ ){1,4}longer\b|^plus\b"
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


EVERY = re.compile(r"\b(?:all|every|both)\b|\b(?:timers|alarms|reminders)\b")
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


def match_timer(ctx: SkillContext, s: str) -> Intent | None:
    """Timers: start, cancel, pause, resume, add time, how long is left, list."""
    if re.match(r"^how (?:long|much time|much longer|many minutes) (?:is |are )?(?:left|remaining|to go)$", s):
        return timer_remaining(ctx, "")
    if not _TIMER.search(s) and not re.match(r"^(?:count ?down|countdown)\b(?! (?:the )?(?:days|sleeps)\b)", s):
        return _by_name(ctx, s)
    tokens = s.split()
    name = name_before(tokens, "timer") or mentioned(ctx.skills, s)
    if _FOR_NOW.search(s) and re.search(r"\b(?:stop|halt|freeze|hold)\b", s):
        return timer_pause(ctx, name)
    if _TAKE_OFF.search(s) and (span := find_duration(tokens)) is not None:  # before "remove" reads as cancel
        return timer_add(ctx, -abs(span.value), name)
    if _ASKS_TIMER.match(s):  # a question about the timer, not more time
        return timer_remaining(ctx, name)
    if CANCEL.search(s):
        return timer_cancel(ctx, name, every=bool(EVERY.search(s)))
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
    if span is None and (_MUSING.match(s) or STORY.search(s) or not _START.search(s)) and not s.startswith("count"):
        return None
    return _start_timer(ctx, s, tokens)


def _by_name(ctx: SkillContext, s: str) -> Intent | None:
    """A running timer by its name alone ("is the pasta done", "give the eggs a minute more"), or "time it for …"."""
    timed = re.search(r"\btime (?:it|that|this|them) (?:for )?(?P<rest>.+)$", s)
    if timed is not None and (span := find_duration(timed["rest"].split())) is not None:
        return timer_start(ctx, span.value)  # "the bread's in, time it for forty minutes"
    verb, asks = _VERB_NAMED.match(s), _ASKS_LEFT.search(s)
    less, more = _TAKE_OFF.search(s) or _LESS.search(s), _MORE_OF.search(s)
    if not (verb or asks or less or more) or not (name := mentioned(ctx.skills, s)):
        return None
    if verb is not None and verb["what"] in forms(name):  # "pause the pasta": the verb said of the timer itself
        act = {"pause": timer_pause, "hold": timer_pause, "freeze": timer_pause, "resume": timer_resume}
        return act.get(verb["verb"], timer_resume if verb["verb"] in _GO_ON else timer_cancel)(ctx, name)
    if asks:
        return timer_remaining(ctx, name)
    tokens = s.split()
    span = find_duration(tokens) or find_duration(_plain(tokens))
    if span is None or not (less or more):
        return None
    return timer_add(ctx, -abs(span.value) if less else span.value, name)


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
    name = running_name(ctx.skills, name)
    work = lambda: cancel_items(ctx, Kind.TIMER, name, every)  # noqa: E731
    intent = cancelling(ctx, "timer.cancel", Kind.TIMER, work, {"name": name, "every": every})
    return or_peer_timer(ctx, intent, name, every=every)


def timer_pause(ctx: SkillContext, name: str = "") -> Intent:
    """Pause one timer."""
    name = running_name(ctx.skills, name)
    return acting("timer.pause", "Paused.", lambda: f"Paused {ctx.skills.pause(name or None).label}.", {"name": name})


def timer_resume(ctx: SkillContext, name: str = "") -> Intent:
    """Resume one paused timer."""
    name = running_name(ctx.skills, name)
    work = lambda: f"Resumed {ctx.skills.resume(name or None).label}."  # noqa: E731
    return acting("timer.resume", "Resumed.", work, {"name": name})


def timer_add(ctx: SkillContext, seconds: float, name: str = "") -> Intent:
    """Add ``seconds`` to a timer (``timer.add``), or take them off when negative (``timer.remove``)."""
    seconds, name = _whole(seconds), running_name(ctx.skills, name)
    intent_name, said = ("timer.add", "Added {} to") if seconds >= 0 else ("timer.remove", "Took {} off")

    def change() -> str:
        timer = ctx.skills.add_time(seconds, name or None)
        left = spoken_duration(timer.remaining(ctx.skills.now()))
        return f"{said.format(spoken_duration(abs(seconds)))} {timer.label}; {left} left."

    return acting(intent_name, "Okay.", change, {"duration_s": abs(seconds), "name": name})


def timer_remaining(ctx: SkillContext, name: str = "") -> Intent:
    """How long is left on one timer (or each)."""
    name = running_name(ctx.skills, name)
    work = lambda: with_peer_timers(ctx, _remaining(ctx, name), name)  # noqa: E731
    return acting("timer.remaining", "Let me check.", work, {"name": name})


def timers_list(ctx: SkillContext) -> Intent:
    """Which timers are running."""
    return acting("timers.list", "Let me check.", lambda: with_peer_timers(ctx, list_kind(ctx, Kind.TIMER)))


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


def cancelling(ctx: SkillContext, name: str, kind: Kind, work: Callable[[], str], data: dict[str, object]) -> Intent:
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


def cancel_items(ctx: SkillContext, kind: Kind, name: str, every: bool) -> str:
    gone = ctx.skills.cancel(kind=kind, name=name or None, every=every)
    if len(gone) > 1:
        return f"Cancelled {len(gone)} {kind.value}s."
    return f"Cancelled {describe(ctx, gone[0])}."


def describe(ctx: SkillContext, item: object) -> str:
    if isinstance(item, Alarm):
        wall = dt.datetime(2000, 1, 1, item.hour, item.minute)
        return f"your {spoken_time(wall, clock_24h=ctx.settings.clock_24h)} alarm"
    label = getattr(item, "label", None)
    if label:
        return str(label)
    return f"the reminder to {getattr(item, 'text', '')}"


def list_kind(ctx: SkillContext, kind: Kind) -> str:
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
                when = f"{spoken_time(due, clock_24h=ctx.settings.clock_24h)} {repeat_said(item['repeat'])}"
            parts.append(f"{item['text']} {when}" if kind is Kind.REMINDER else when)
    head = f"You have {len(items)} {kind.value}{'' if len(items) == 1 else 's'}: "
    return head + "; ".join(parts) + "."


def repeat_said(repeat: str) -> str:
    if repeat in ("daily", "weekdays", "weekends"):
        return {"daily": "every day", "weekdays": "on weekdays", "weekends": "at weekends"}[repeat]
    return "every " + " and ".join(d.capitalize() for d in repeat.split(","))
