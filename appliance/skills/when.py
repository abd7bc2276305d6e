"""When something is due: "in twenty minutes", "tomorrow morning", "on Friday", "next Monday at 8", "tonight at nine".

Every function takes ``now`` (a time-zone-aware datetime) and never reads the
clock.  Rules, so that a parse is predictable:

- "in <duration>" / "<duration> from now" is exact elapsed time (DST-proof: computed in UTC);
- a weekday ("Friday", "on Friday", "next Friday", "this Friday") is the next such day after today;
- a date ("December 25th", "the 3rd") is this year's / this month's unless already past;
- an hour without am/pm: on a named day, 7–11 is morning and 12–6 afternoon; with no day, the next
  time the clock shows it; ``prefer="am"`` (alarms: "wake me up at seven") takes the morning;
- a day without a time: morning 9:00, afternoon 15:00, evening 18:00, night 21:00, otherwise 9:00;
- "midnight" on a named day is the end of that day; a wall time skipped by DST lands just after the gap.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from appliance.skills.durations import duration_at
from appliance.skills.numbers import parse_ordinal, words
from appliance.skills.times import (
    AFTERNOON,
    EVENING,
    MORNING,
    NIGHT,
    PARTS,
    TimeOfDay,
    time_of_day_at,
)

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MONTHS = (
    "january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
    "november", "december",
)  # fmt: skip
PART_DEFAULT = {MORNING: 9, AFTERNOON: 15, EVENING: 18, NIGHT: 21}
HOLIDAYS = {
    ("christmas", "eve"): (12, 24), ("christmas", "day"): (12, 25), ("christmas",): (12, 25),
    ("new", "years", "eve"): (12, 31), ("new", "year's", "eve"): (12, 31), ("new", "years", "day"): (1, 1),
    ("new", "year's", "day"): (1, 1), ("new", "year"): (1, 1), ("halloween",): (10, 31),
    ("valentines", "day"): (2, 14), ("valentine's", "day"): (2, 14),
}  # fmt: skip


@dataclass
class When:
    """What a phrase said about a moment; ``due`` is None if it named no moment."""

    due: dt.datetime | None = None
    date: dt.date | None = None
    part: str | None = None
    time: TimeOfDay | None = None
    relative_s: float | None = None
    used: set[int] = field(default_factory=set)
    """Token indices that said it (so a reminder's text can leave them out)."""


def _mark(found: When, start: int, end: int) -> int:
    found.used.update(range(start, end))
    return end


def scan(tokens: list[str], now: dt.datetime, *, bare: bool = False, prefer: str | None = None) -> When:
    """Find the date, part of day, time and relative offset said anywhere in ``tokens`` and resolve them."""
    found = When()
    i = 0
    while i < len(tokens):
        i = _piece(tokens, i, now, found, bare=bare)
    found.due = resolve(found, now, prefer=prefer)
    return found


def _piece(tokens: list[str], i: int, now: dt.datetime, found: When, *, bare: bool) -> int:
    """Consume one piece at ``i`` into ``found``; returns the next index."""
    tok = tokens[i]
    if found.relative_s is None and tok in ("in", "within") and (span := duration_at(tokens, i + 1)):
        found.relative_s = span.value
        return _mark(found, i, span.end)
    if (
        found.relative_s is None
        and (span := duration_at(tokens, i))
        and tokens[span.end : span.end + 2]
        == [
            "from",
            "now",
        ]
    ):
        found.relative_s = span.value
        return _mark(found, i, span.end + 2)
    if found.date is None and (day := _day(tokens, i, now)) is not None:
        found.date, part, end = day
        found.part = found.part or part
        return _mark(found, i, end)
    if tok in PARTS or tok == "tonight":
        found.part = NIGHT if tok == "tonight" else tok
        if (tok == "tonight" or (i and tokens[i - 1] == "this")) and found.date is None:
            found.date = now.date()
        start = i - 2 if tokens[max(0, i - 2) : i] == ["in", "the"] else i - 1 if i and tokens[i - 1] == "this" else i
        return _mark(found, start, i + 1)
    if found.time is None:
        anchored = tok in ("at", "for", "by") or (i and tokens[i - 1] in ("at", "for", "by"))
        start = i + 1 if tok in ("at", "for", "by") else i
        hit = time_of_day_at(tokens, start, bare=bare or (anchored and tok != "for") or tok == "at")
        if hit is not None and (anchored or _self_evident(tokens, start, hit[1])):
            found.time = hit[0]
            return _mark(found, i, hit[1])
    return i + 1


def _self_evident(tokens: list[str], start: int, end: int) -> bool:
    """A time that needs no 'at': '7:30', '7 pm', 'noon', 'half past six', 'seven o'clock'."""
    said = tokens[start:end]
    return any(":" in t or t in ("am", "pm", "noon", "midnight", "midday", "oclock", "past", "to") for t in said)


def _day(tokens: list[str], i: int, now: dt.datetime) -> tuple[dt.date, str | None, int] | None:
    """A day word at ``i``: today, tomorrow, the day after tomorrow, a weekday, a date, a holiday."""
    today = now.date()
    tok = tokens[i]
    j = i + 1
    if tokens[i : i + 4] == ["the", "day", "after", "tomorrow"] or tokens[i : i + 3] == ["day", "after", "tomorrow"]:
        j = i + (4 if tok == "the" else 3)
        return today + dt.timedelta(days=2), None, j
    if tok in ("today", "tomorrow"):
        date = today + dt.timedelta(days=1 if tok == "tomorrow" else 0)
        part = tokens[j] if j < len(tokens) and tokens[j] in PARTS else None
        return date, part, j + (1 if part else 0)
    if (tok in ("on", "next", "this", "coming") and j < len(tokens) and tokens[j] in WEEKDAYS) or tok in WEEKDAYS:
        if tok == "this" and tokens[j] in PARTS:
            return None
        name = tok if tok in WEEKDAYS else tokens[j]
        j = j if tok in WEEKDAYS else j + 1
        ahead = (WEEKDAYS.index(name) - today.weekday() - 1) % 7 + 1
        part = tokens[j] if j < len(tokens) and tokens[j] in PARTS else None
        return today + dt.timedelta(days=ahead), part, j + (1 if part else 0)
    return _calendar_date(tokens, i, today)


def _calendar_date(tokens: list[str], i: int, today: dt.date) -> tuple[dt.date, str | None, int] | None:
    """'december 25th', 'the 25th of december', 'on the 3rd', 'christmas'."""
    j = i + 1 if tokens[i] == "on" else i
    for key, (month, day) in HOLIDAYS.items():
        if tuple(tokens[j : j + len(key)]) == key:
            return _next_date(today, month, day), None, j + len(key)
    if j < len(tokens) and tokens[j] in MONTHS:
        month = MONTHS.index(tokens[j]) + 1
        k = j + 1 + (1 if j + 1 < len(tokens) and tokens[j + 1] == "the" else 0)
        said = parse_ordinal(tokens, k) or _plain_day(tokens, k)
        if said is None:
            return None
        return _next_date(today, month, said[0]), None, said[1]
    k = j + 1 if j < len(tokens) and tokens[j] == "the" else j
    ordinal = parse_ordinal(tokens, k)
    if ordinal is None or (k == j and tokens[i] != "on"):
        return None
    day, end = ordinal
    if tokens[end : end + 1] == ["of"] and end + 1 < len(tokens) and tokens[end + 1] in MONTHS:
        return _next_date(today, MONTHS.index(tokens[end + 1]) + 1, day), None, end + 2
    if end < len(tokens) and tokens[end] in MONTHS:
        return _next_date(today, MONTHS.index(tokens[end]) + 1, day), None, end + 1
    month, year = today.month, today.year
    if day <= today.day:  # "on the 1st" said on the 1st means next month
        month, year = (1, year + 1) if month == 12 else (month + 1, year)
    try:
        return dt.date(year, month, day), None, end
    except ValueError:
        return None


def _plain_day(tokens: list[str], k: int) -> tuple[int, int] | None:
    if k < len(tokens) and tokens[k].isdigit() and 1 <= int(tokens[k]) <= 31:
        return int(tokens[k]), k + 1
    return None


def _next_date(today: dt.date, month: int, day: int) -> dt.date:
    """This year's ``month``/``day`` unless it has passed; 29 February waits for a leap year."""
    for year in range(today.year, today.year + 9):
        try:
            date = dt.date(year, month, day)
        except ValueError:
            continue
        if date >= today:
            return date
    raise ValueError(f"no date {month}/{day}")


def local(date: dt.date, hour: int, minute: int, tz: dt.tzinfo | None) -> dt.datetime:
    """The moment a wall clock in ``tz`` shows ``hour:minute`` on ``date`` (a DST gap moves it past the gap)."""
    naive = dt.datetime(date.year, date.month, date.day, hour, minute, tzinfo=tz)
    return naive.astimezone(dt.timezone.utc).astimezone(tz)


def resolve(found: When, now: dt.datetime, *, prefer: str | None = None) -> dt.datetime | None:
    """The moment ``found`` names, in ``now``'s zone, or None."""
    tz = now.tzinfo
    if found.relative_s is not None:
        return (now.astimezone(dt.timezone.utc) + dt.timedelta(seconds=found.relative_s)).astimezone(tz)
    time = found.time
    if time is None and found.date is None and found.part is None:
        return None
    if time is None:
        time = TimeOfDay(PART_DEFAULT.get(found.part or "", 9), 0, fixed=True)
    date = found.date
    if date is not None and time.midnight:
        return local(date + dt.timedelta(days=1), 0, time.minute, tz)
    if time.fixed:
        hours = [time.hour]
    elif found.part is not None:
        hours = [time.hour24(found.part != MORNING)]
    elif prefer == "am":
        hours = [time.hour24(False)]
    elif date is not None:
        hours = [time.hour24(not 7 <= time.hour <= 11)]
    else:
        hours = [time.hour24(False), time.hour24(True)]
    if date is not None:
        return local(date, hours[0], time.minute, tz)
    today = now.date()
    candidates = [local(today + dt.timedelta(days=d), h, time.minute, tz) for d in (0, 1) for h in hours]
    return min(c for c in candidates if c > now)


def parse_when(text: str, now: dt.datetime, *, bare: bool = False, prefer: str | None = None) -> dt.datetime | None:
    """The moment ``text`` names, or None ('tomorrow at half past six' → tomorrow 06:30 in ``now``'s zone)."""
    return scan(words(text), now, bare=bare, prefer=prefer).due
