"""Arithmetic without eval, unit conversions, and how the clock speaks."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from appliance.skills.calc import calculate
from appliance.skills.clock import (
    date_answer,
    date_of_answer,
    days_until_answer,
    spoken_moment,
    spoken_time,
    time_answer,
    zone,
)
from appliance.skills.errors import SkillError
from appliance.skills.units import convert, parse_conversion

SUMS = [
    ("seven times eight", 56, "seven times eight is 56"),
    ("7 x 8", 56, "7 times 8 is 56"),
    ("7*8", 56, None),
    ("100 divided by 4", 25, None),
    ("10/4", 2.5, "10 divided by 4 is 2.5"),
    ("12 plus 7 minus 3", 16, None),
    ("15 percent of 80", 12, "15 percent of 80 is 12"),
    ("20% of 150", 30, None),
    ("two to the power of ten", 1024, None),
    ("2^10", 1024, None),
    ("5 squared", 25, None),
    ("3 cubed", 27, None),
    ("square root of 144", 12, None),
    ("the square root of 2", 2**0.5, "the square root of 2 is 1.41"),
    ("cube root of 27", 3, None),
    ("three plus four times two", 11, None),
    ("minus 5 plus 3", -2, None),
    ("8 - 3", 5, "8 minus 3 is 5"),
    ("a third of 90", 30, None),
    ("half of 30", 15, None),
    ("two point five times four", 10, None),
    ("one hundred and five minus five", 100, None),
    ("9 multiplied by 9", 81, None),
    ("1 over 8", 0.125, None),
    ("ten minus twenty", -10, None),
    ("six times seven times two", 84, None),
    ("2 to the power of minus 1", 0.5, None),
]


@pytest.mark.parametrize(("text", "value", "speech"), SUMS)
def test_sums(text: str, value: float, speech: str | None) -> None:
    calc = calculate(text)
    assert calc is not None
    assert calc.value == pytest.approx(value)
    if speech:
        assert calc.speech() == speech


@pytest.mark.parametrize(
    "text", ["the capital of france", "love", "seven", "five apples", "", "import os", "__import__"]
)
def test_not_arithmetic(text: str) -> None:
    assert calculate(text) is None


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("1 divided by 0", "calc-failed"),
        ("ten to the power of 100", "calc-failed"),
        ("square root of minus 4", "calc-failed"),
        ("999999999 times 999999999", "calc-failed"),
    ],
)
def test_sums_without_an_answer(text: str, code: str) -> None:
    with pytest.raises(SkillError) as err:
        calculate(text)
    assert err.value.code == code and err.value.speech


CONVERSIONS = [
    ("three inches to centimetres", 7.62, "three inches is 7.62 centimetres"),
    ("convert 3 inches to centimeters", 7.62, None),
    ("5 miles in kilometres", 8.04672, None),
    ("how many feet in a mile", 5280, "a mile is 5280 feet"),
    ("1 kilogram in pounds", 2.20462, None),
    ("how many grams in a pound", 453.59237, None),
    ("10 stone in kilograms", 63.5029, None),
    ("180 celsius in fahrenheit", 356, "180 degrees Celsius is 356 degrees Fahrenheit"),
    ("350 degrees fahrenheit to celsius", 176.667, None),
    ("100 f in c", 37.7778, None),
    ("0 c in kelvin", 273.15, None),
    ("how many teaspoons in a tablespoon", 3, None),
    ("how many tablespoons in a cup", 16, None),
    ("2 cups in millilitres", 473.176, None),
    ("4 fluid ounces in tablespoons", 8, None),
    ("how many cups in a litre", 4.22675, None),
    ("60 miles per hour in kilometres per hour", 96.5606, None),
    ("100 km/h in mph", 62.1371, None),
    ("a litre in imperial pints", 1.75975, None),
    ("10 knots in mph", 11.5078, None),
    ("how many minutes are in an hour", 60, "an hour is 60 minutes"),
    ("how many seconds in a day", 86400, None),
    ("two and a half hours in minutes", 150, None),
    ("how many days are there in a week", 7, None),
]


@pytest.mark.parametrize(("text", "value", "speech"), CONVERSIONS)
def test_conversions(text: str, value: float, speech: str | None) -> None:
    found = parse_conversion(text)
    assert found is not None
    assert found.result == pytest.approx(value, rel=1e-4)
    if speech:
        assert found.speech() == speech


def test_incompatible_units_are_refused() -> None:
    with pytest.raises(SkillError, match="inches to kilograms"):
        parse_conversion("3 inches to kilograms")
    with pytest.raises(SkillError):
        convert(1, "c", "kg")


@pytest.mark.parametrize(
    "text",
    [
        "set a timer for 5 minutes",
        "add 2 cups of flour to the shopping list",
        "3 inches",
        "how many minutes until 5 pm",
    ],
)
def test_not_conversions(text: str) -> None:
    assert parse_conversion(text) is None


LONDON = ZoneInfo("Europe/London")
EVENING = dt.datetime(2026, 12, 1, 19, 5, tzinfo=LONDON)


def test_spoken_times_follow_the_clock_setting() -> None:
    assert spoken_time(EVENING, clock_24h=False) == "7:05 pm"
    assert spoken_time(EVENING, clock_24h=True) == "19:05"
    assert spoken_time(EVENING.replace(hour=0), clock_24h=False) == "12:05 am"
    assert spoken_time(EVENING.replace(hour=12), clock_24h=False) == "12:05 pm"
    assert time_answer(EVENING, clock_24h=True) == "It's 19:05."
    assert date_answer(EVENING) == "Today is Tuesday 1 December 2026."
    later = EVENING + dt.timedelta(days=1)
    assert spoken_moment(later, EVENING, clock_24h=False) == "tomorrow at 7:05 pm"
    assert spoken_moment(EVENING + dt.timedelta(days=3), EVENING, clock_24h=True) == "on Friday 4 December at 19:05"


def test_calendar_answers() -> None:
    assert date_of_answer("next Friday", dt.date(2026, 12, 4), EVENING) == "Next Friday is 4 December."
    assert date_of_answer("Christmas", dt.date(2026, 12, 25), EVENING) == "Christmas is Friday 25 December."
    assert days_until_answer("Christmas", dt.date(2026, 12, 25), EVENING) == "There are 24 days until Christmas."
    assert days_until_answer("Christmas", dt.date(2026, 12, 2), EVENING) == "Christmas is tomorrow."


def test_zone_from_settings_env_or_localtime(tmp_path: Path) -> None:
    assert zone("America/New_York") == ZoneInfo("America/New_York")
    with pytest.raises(SkillError):
        zone("Mars/Olympus_Mons")
    assert zone(env={"TZ": "Asia/Tokyo"}, localtime=tmp_path / "none") == ZoneInfo("Asia/Tokyo")
    link = tmp_path / "localtime"
    link.symlink_to("/usr/share/zoneinfo/Europe/Paris")
    assert zone(env={}, localtime=link) == ZoneInfo("Europe/Paris")
    assert zone(env={}, localtime=tmp_path / "none") == dt.timezone.utc
