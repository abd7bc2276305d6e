"""Times of day as people say them: "half past six", "a quarter to seven", "7:30 pm", "noon", "nineteen forty five".

A time of day is parsed without a date; :mod:`.when` decides which day and,
for an hour said without am/pm, which half of the day.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from appliance.skills.numbers import (
    ONES,
    TENS,
    parse_integer,
    words,
)

_HHMM = re.compile(r"(\d{1,2})[:.](\d{2})")
MORNING, AFTERNOON, EVENING, NIGHT = "morning", "afternoon", "evening", "night"
PARTS = (MORNING, AFTERNOON, EVENING, NIGHT)


@dataclass(frozen=True)
class TimeOfDay:
    """A wall-clock time; ``hour`` is 0–23 when ``fixed``, else 1–12 with the half of the day still open."""

    hour: int
    minute: int
    fixed: bool = False
    """True when the hour needs no am/pm guess (19:45, 7 pm, 00:30, noon, midnight)."""
    midnight: bool = False
    """Said as 'midnight': the end of the day it belongs to."""

    def hour24(self, pm: bool) -> int:
        """The 0–23 hour if this time is in the morning (``pm`` False) or after noon."""
        if self.fixed:
            return self.hour
        return self.hour % 12 + (12 if pm else 0)


def time_of_day_at(tokens: list[str], i: int, *, bare: bool = True) -> tuple[TimeOfDay, int] | None:
    """The time of day starting at token ``i``; ``bare`` allows a lone number ('seven') to be one."""
    if i >= len(tokens):
        return None
    tok = tokens[i]
    if tok in ("noon", "midday"):
        return TimeOfDay(12, 0, fixed=True), i + 1
    if tok == "midnight":
        return TimeOfDay(0, 0, fixed=True, midnight=True), i + 1
    found = _relative_to_hour(tokens, i) or _clock_face(tokens, i, bare=bare)
    if found is None:
        return None
    time, j = found
    return _meridiem(tokens, j, time)


def _hour(tokens: list[str], i: int) -> tuple[int, int] | None:
    """An hour 0–23 in words or digits."""
    if i < len(tokens) and tokens[i] in ("noon", "midday"):
        return 12, i + 1
    if i < len(tokens) and tokens[i] == "midnight":
        return 0, i + 1
    tok = tokens[i] if i < len(tokens) else ""
    if re.fullmatch(r"\d{1,2}", tok) and int(tok) <= 23:
        return int(tok), i + 1
    if tok == "twenty" and i + 1 < len(tokens) and tokens[i + 1] in ("one", "two", "three"):
        return 20 + ONES[tokens[i + 1]], i + 2
    if (tok in ONES and tok != "oh") or tok == "twenty":
        return ONES.get(tok, 20), i + 1
    return None


_NOT_AN_HOUR = frozenset({"hour", "hours", "minute", "minutes", "second", "seconds", "percent", "of", "a", "an"})
"""After "half" and a number, words that make it an amount ("half two hours"), not the British "half six"."""


def _relative_to_hour(tokens: list[str], i: int) -> tuple[TimeOfDay, int] | None:
    """'half past six', 'a quarter to seven', 'twenty five past eight', 'ten minutes to nine'."""
    j = i + 1 if tokens[i] == "a" else i
    if j < len(tokens) and tokens[j] == "half":
        minutes, j = 30, j + 1
    elif j < len(tokens) and tokens[j] == "quarter":
        minutes, j = 15, j + 1
    elif (count := parse_integer(tokens, j)) is not None and 0 < count[0] < 60 and tokens[i] != "a":
        minutes, j = count
        if j < len(tokens) and tokens[j] in ("minute", "minutes"):
            j += 1
    else:
        return None
    said = _hour(tokens, j) if minutes == 30 and tokens[i] == "half" else None
    if said is not None and said[0] <= 12 and (said[1] >= len(tokens) or tokens[said[1]] not in _NOT_AN_HOUR):
        return TimeOfDay(said[0], 30, fixed=said[0] == 0), said[1]  # British "half six": 6:30
    if j >= len(tokens) or tokens[j] not in ("past", "after", "to", "before", "till"):
        return None
    direction = tokens[j]
    if minutes == 30 and direction not in ("past", "after"):
        return None
    hour = _hour(tokens, j + 1)
    if hour is None:
        return None
    h, end = hour
    fixed = h == 0 or h > 12 or tokens[j + 1] in ("noon", "midday", "midnight")
    if direction in ("past", "after"):
        return TimeOfDay(h, minutes, fixed=fixed), end
    h = (h - 1) % (24 if fixed else 12) or (0 if fixed else 12)
    return TimeOfDay(h, 60 - minutes, fixed=fixed), end


def _clock_face(tokens: list[str], i: int, *, bare: bool) -> tuple[TimeOfDay, int] | None:
    """'7:30', '19:45', 'seven thirty', 'seven oh five', 'six forty five', 'seven o'clock', '7 pm', 'seven'."""
    if m := _HHMM.fullmatch(tokens[i]):
        h, mnt = int(m[1]), int(m[2])
        if h > 23 or mnt > 59:
            return None
        return TimeOfDay(h, mnt, fixed=h > 12 or h == 0 or m[1].startswith("0")), i + 1
    hour = _hour(tokens, i)
    if hour is None:
        return None
    h, j = hour
    if j < len(tokens) and tokens[j] == "oclock":
        return TimeOfDay(h, 0, fixed=h > 12 or h == 0), j + 1
    minute = _minutes(tokens, j)
    if minute is not None:
        return TimeOfDay(h, minute[0], fixed=h > 12 or h == 0), minute[1]
    anchored = j < len(tokens) and tokens[j] in ("am", "pm")
    if not (bare or anchored):
        return None
    return TimeOfDay(h, 0, fixed=h > 12 or h == 0), j


def _minutes(tokens: list[str], j: int) -> tuple[int, int] | None:
    """The minutes after an hour: 'thirty', 'oh five', 'forty five', '30', 'hundred' (nineteen hundred)."""
    if j >= len(tokens):
        return None
    if tokens[j] == "hundred":
        return 0, j + 1
    if tokens[j] in ("oh", "o") and j + 1 < len(tokens) and tokens[j + 1] in ONES and ONES[tokens[j + 1]] < 10:
        return ONES[tokens[j + 1]], j + 2
    if tokens[j] in TENS or (tokens[j] in ONES and ONES[tokens[j]] >= 10) or re.fullmatch(r"\d{2}", tokens[j]):
        found = parse_integer(tokens, j)
        if found and 10 <= found[0] < 60:
            if found[1] < len(tokens) and tokens[found[1]] in ("minutes", "minute", "seconds", "hours", "past", "to"):
                return None
            return found
    return None


def _meridiem(tokens: list[str], j: int, time: TimeOfDay) -> tuple[TimeOfDay, int]:
    """Apply 'am'/'pm', 'in the morning', 'in the evening', 'at night' after a time."""
    nxt = tokens[j] if j < len(tokens) else ""
    pm: bool | None = None
    if nxt in ("am", "pm"):
        pm, j = nxt == "pm", j + 1
    elif tokens[j : j + 3] in (["in", "the", MORNING], ["in", "the", AFTERNOON], ["in", "the", EVENING]):
        pm, j = tokens[j + 2] != MORNING, j + 3
    elif tokens[j : j + 2] == ["at", NIGHT]:
        pm, j = time.hour % 12 >= 6 or time.hour == 12, j + 2
        if time.hour == 12 and not time.fixed:
            return TimeOfDay(0, time.minute, fixed=True, midnight=time.minute == 0), j
    if pm is None or (time.fixed and time.hour > 12):
        return time, j
    if time.fixed and time.hour == 12 and time.minute == 0 and not time.midnight:
        return time, j  # "noon pm"
    if time.hour > 12 or time.midnight:
        return time, j
    return TimeOfDay(time.hour % 12 + (12 if pm else 0), time.minute, fixed=True), j


def parse_time_of_day(text: str) -> TimeOfDay | None:
    """The first time of day in ``text`` that a clock would show ('at half past six' → 6:30, half open)."""
    tokens = words(text)
    for i in range(len(tokens)):
        found = time_of_day_at(tokens, i)
        if found is not None:
            return found[0]
    return None
