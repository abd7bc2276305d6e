"""The clock and calendar: which zone, how a time is spoken, what day a phrase names, days until a date."""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from appliance.skills.errors import SkillError

_LOGGER = logging.getLogger(__name__)

WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTH_NAMES = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November",
    "December",
)  # fmt: skip


def zone(name: str = "", *, localtime: Path = Path("/etc/localtime"), env: dict[str, str] | None = None) -> dt.tzinfo:
    """The zone called ``name``, or the device's (``$TZ``, then /etc/localtime's target), or UTC."""
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError) as err:
            raise SkillError("bad-timezone", f"unknown time zone {name!r}") from err
    environ: Mapping[str, str] = os.environ if env is None else env
    tz = environ.get("TZ", "").lstrip(":")
    candidates = [tz] if tz else []
    try:
        target = str(localtime.resolve())
        if "zoneinfo/" in target:
            candidates.append(target.split("zoneinfo/", 1)[1])
    except OSError:
        pass
    for key in candidates:
        try:
            return ZoneInfo(key)
        except (ZoneInfoNotFoundError, ValueError):
            _LOGGER.debug("Not a zone: %s", key)
    return dt.timezone.utc


def spoken_time(moment: dt.datetime, *, clock_24h: bool) -> str:
    """'7:05 pm' or '19:05' (the TTS reads either naturally)."""
    if clock_24h:
        return f"{moment.hour}:{moment.minute:02d}"
    hour = moment.hour % 12 or 12
    return f"{hour}:{moment.minute:02d} {'am' if moment.hour < 12 else 'pm'}"


def spoken_date(date: dt.date, today: dt.date) -> str:
    """'Friday 4 December' (with the year when it is not this year)."""
    text = f"{WEEKDAY_NAMES[date.weekday()]} {date.day} {MONTH_NAMES[date.month - 1]}"
    return text if date.year == today.year else f"{text} {date.year}"


def spoken_moment(moment: dt.datetime, now: dt.datetime, *, clock_24h: bool) -> str:
    """'7:00 am', 'tomorrow at 7:00 am', 'on Friday 4 December at 6:30 pm'."""
    time = spoken_time(moment, clock_24h=clock_24h)
    days = (moment.date() - now.date()).days
    if days == 0:
        return f"at {time}"
    if days == 1:
        return f"tomorrow at {time}"
    return f"on {spoken_date(moment.date(), now.date())} at {time}"


def time_answer(now: dt.datetime, *, clock_24h: bool) -> str:
    """ "It's 8:31 pm."."""
    return f"It's {spoken_time(now, clock_24h=clock_24h)}."


def date_answer(now: dt.datetime) -> str:
    """ "Today is Tuesday 1 December 2026."."""
    return f"Today is {spoken_date(now.date(), now.date())} {now.year}."


def weekday_answer(now: dt.datetime) -> str:
    """ "It's Tuesday."."""
    return f"It's {WEEKDAY_NAMES[now.weekday()]}."


def date_of_answer(said: str, date: dt.date, now: dt.datetime) -> str:
    """ "Next Friday is 4 December."."""
    rest = f"{date.day} {MONTH_NAMES[date.month - 1]}" + ("" if date.year == now.year else f" {date.year}")
    name = said[:1].upper() + said[1:]
    if any(day.lower() in said.lower() for day in WEEKDAY_NAMES):
        return f"{name} is {rest}."
    return f"{name} is {WEEKDAY_NAMES[date.weekday()]} {rest}."


def days_until_answer(said: str, date: dt.date, now: dt.datetime) -> str:
    """ "There are 24 days until Christmas."; today and tomorrow are said as such."""
    days = (date - now.date()).days
    name = said[:1].upper() + said[1:]
    if days == 0:
        return f"{name} is today."
    if days == 1:
        return f"{name} is tomorrow."
    return f"There are {days} days until {said}."
