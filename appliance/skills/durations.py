"""Durations as people say them: "ninety seconds", "an hour and a quarter", "half an hour", "1 hour 30 minutes"."""

from __future__ import annotations

from dataclasses import dataclass

from appliance.skills.numbers import (
    is_number_word,
    parse_fraction,
    parse_integer,
    parse_number,
    words,
)

UNITS = {
    "second": 1, "seconds": 1, "sec": 1, "secs": 1, "s": 1,
    "minute": 60, "minutes": 60, "min": 60, "mins": 60, "m": 60,
    "hour": 3600, "hours": 3600, "hr": 3600, "hrs": 3600, "h": 3600,
    "day": 86400, "days": 86400, "week": 604800, "weeks": 604800,
}  # fmt: skip
_NEXT_SMALLER = {3600: 60, 60: 1}


@dataclass(frozen=True)
class Span:
    """A value found in a token list: ``tokens[start:end]`` said it."""

    value: float
    start: int
    end: int


def duration_at(tokens: list[str], i: int) -> Span | None:
    """The duration starting exactly at token ``i``, in seconds (negative if said with 'minus')."""
    total, j, parts = 0.0, i, 0
    while True:
        part = _part(tokens, j)
        if part is None and parts and j < len(tokens) and tokens[j] == "and":
            part = _part(tokens, j + 1)
        if part is None:
            break
        seconds, j, unit = part
        total += seconds
        parts += 1
        if unit in _NEXT_SMALLER and (bare := _bare_tail(tokens, j)) is not None:
            total += bare[0] * _NEXT_SMALLER[unit] * (1 if seconds >= 0 else -1)
            j = bare[1]
    if not parts:
        return None
    return Span(round(total, 3), i, j)


def _part(tokens: list[str], i: int) -> tuple[float, int, int] | None:
    """One 'number unit [and a half]' or 'half an hour' / 'a quarter of an hour'; returns (seconds, end, unit)."""
    frac = parse_fraction(tokens, i)
    if frac is not None:
        j = frac[1] + (1 if frac[1] < len(tokens) and tokens[frac[1]] == "of" else 0)
        if j < len(tokens) and tokens[j] in ("a", "an"):
            j += 1
        if j < len(tokens) and tokens[j] in UNITS:
            unit = UNITS[tokens[j]]
            return frac[0] * unit, j + 1, unit
    found = parse_number(tokens, i, allow_article=True)
    if found is None or found[1] >= len(tokens) or tokens[found[1]] not in UNITS:
        return None
    value, j = found
    unit = UNITS[tokens[j]]
    j += 1
    if j + 1 < len(tokens) and tokens[j] == "and" and (tail := parse_fraction(tokens, j + 1)) and tail[0] < 1:
        after = tail[1]
        if after >= len(tokens) or tokens[after] not in UNITS:  # "and a half" of this unit, not "and a half hours"
            value += tail[0] * (1 if value >= 0 else -1)
            j = after
    return value * unit, j, unit


def _bare_tail(tokens: list[str], j: int) -> tuple[int, int] | None:
    """'1 hour 30' / 'five minutes twenty': a trailing count of the next smaller unit."""
    found = parse_integer(tokens, j)
    if found is None or not 0 < found[0] < 60:
        return None
    if found[1] < len(tokens) and (tokens[found[1]] in UNITS or tokens[found[1]] in ("and", "point")):
        return None
    return found


def find_duration(tokens: list[str], start: int = 0) -> Span | None:
    """The first duration in ``tokens`` at or after ``start``."""
    for i in range(start, len(tokens)):
        if is_number_word(tokens[i]) or tokens[i] in ("a", "an", "minus", "negative"):
            span = duration_at(tokens, i)
            if span is not None:
                return span
    return None


def parse_duration(text: str) -> float | None:
    """Seconds of the first duration said in ``text``, or None ('set a timer for ten minutes' → 600.0)."""
    span = find_duration(words(text))
    return None if span is None else span.value


def spoken_duration(seconds: float) -> str:
    """'1 hour and 5 minutes', '90 seconds' → '1 minute and 30 seconds', '4 minutes'."""
    whole = round(seconds)
    if whole <= 0:
        return "0 seconds"
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [
        f"{n} {name}{'' if n == 1 else 's'}"
        for n, name in ((days, "day"), (hours, "hour"), (minutes, "minute"), (secs, "second"))
        if n
    ]
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
