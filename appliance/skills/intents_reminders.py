"""Reminders by voice: set ("remind me to take the bins out at seven", "don't let me forget to …"), list, cancel."""

from __future__ import annotations

import re

from appliance.skills.clock import spoken_moment
from appliance.skills.intents_schedule import CANCEL, EVERY, asks_for_list, cancel_items, cancelling, list_kind
from appliance.skills.phrasing import second_person
from appliance.skills.schedule import Kind
from appliance.skills.voice import NOT_WHEN, SkillContext, acting, saying
from appliance.skills.when import scan
from appliance.voice.reply import Intent

_REMINDER = re.compile(r"\breminders?\b")
_REMIND = re.compile(
    r"^(?:remind me|set (?:a|an|me a) reminder|create (?:a|an) reminder|add (?:a|an) reminder|make (?:a|an) reminder|"
    r"reminder)\b(?! (?:and )?(?:what|what's|who|who's|where|where's|how|how's|why|if|whether|of what)\b)"
)
"""A reminder asked for; not "remind me, what's the capital of Peru" (a question that only opens with it)."""
_WHEN_FIRST = re.compile(
    r"^(?P<when>(?:in|at|on|by|tomorrow|tonight|this|next|later)\b.*?)(?: and)? (?:please )?remind me\b(?P<rest>.*)$"
)
_FORGET = re.compile(
    r"^(?:(?:don't|dont|do not) let me forget|"
    r"make sure (?:that )?i (?:remember|don't forget|dont forget|do not forget)|"
    r"i (?:mustn't|must not|can't|cannot|shouldn't|should not|don't want to) forget|"
    r"(?:help me|i need to|i have to|i've got to) remember) (?=to |about |the |my |our )"
)
"""A reminder asked for as not forgetting: "don't let me forget to call the vet at five"."""


def match_reminder(ctx: SkillContext, s: str) -> Intent | None:
    """Reminders: set ('remind me to take the bins out at seven'), list, cancel."""
    if _REMINDER.search(s) and CANCEL.search(s):
        about = re.search(r"\b(?:about|to|for) (.+)$", s)
        name = about[1] if about else ""
        every = bool(EVERY.search(s)) and not name
        work = lambda: cancel_items(ctx, Kind.REMINDER, name, every)  # noqa: E731
        return cancelling(ctx, "reminder.cancel", Kind.REMINDER, work, {"text": name, "every": every})
    if asks_for_list(s, "reminder"):
        return acting("reminders.list", "Let me check.", lambda: list_kind(ctx, Kind.REMINDER))
    if first := _WHEN_FIRST.match(s):  # "in twenty minutes, remind me to …": the time said first
        s = f"remind me{first['rest']} {first['when']}"
    if forget := _FORGET.match(s):
        s = "remind me " + s[forget.end() :]
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
