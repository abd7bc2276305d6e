"""Parser tables: every phrasing asserts the exact number, duration, time of day or due moment."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from appliance.skills.durations import parse_duration, spoken_duration
from appliance.skills.numbers import parse_number, spoken_number, words
from appliance.skills.times import parse_time_of_day
from appliance.skills.when import parse_when

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")
NOW = dt.datetime(2026, 12, 1, 20, 31, tzinfo=LONDON)  # a Tuesday evening
MORNING = dt.datetime(2026, 12, 1, 6, 10, tzinfo=LONDON)

NUMBERS = [
    ("zero", 0), ("seven", 7), ("twelve", 12), ("nineteen", 19), ("twenty", 20), ("twenty five", 25),
    ("twenty-five", 25), ("ninety nine", 99), ("a hundred", 100), ("one hundred and five", 105),
    ("one hundred twenty three", 123), ("twelve hundred", 1200), ("two thousand and twenty six", 2026),
    ("three thousand five hundred", 3500), ("a million", 1_000_000), ("42", 42), ("2.5", 2.5), ("1,000", 1000),
    ("0.75", 0.75), ("two point five", 2.5), ("three point one four", 3.14), ("four and a half", 4.5),
    ("one and a quarter", 1.25), ("two and three quarters", 2.75), ("a half", 0.5), ("half", 0.5),
    ("a quarter", 0.25), ("three quarters", 0.75), ("minus five", -5), ("negative twelve", -12),
    ("minus 3", -3), ("1/2", 0.5), ("3/4", 0.75), ("ten and a half", 10.5), ("sixty", 60),
]  # fmt: skip


@pytest.mark.parametrize(("text", "value"), NUMBERS)
def test_numbers(text: str, value: float) -> None:
    tokens = words(text)
    found = parse_number(tokens, 0)
    assert found is not None
    assert found[0] == pytest.approx(value)
    assert found[1] == len(tokens)


DURATIONS = [
    ("ten minutes", 600), ("10 minutes", 600), ("10 mins", 600), ("10min", 600), ("5 min", 300),
    ("a minute", 60), ("one minute", 60), ("ninety seconds", 90), ("30 seconds", 30), ("thirty secs", 30),
    ("an hour", 3600), ("one hour", 3600), ("2 hours", 7200), ("two hrs", 7200), ("2.5 hours", 9000),
    ("four and a half minutes", 270), ("a minute and a half", 90), ("an hour and a half", 5400),
    ("an hour and a quarter", 4500), ("one and a half hours", 5400), ("half an hour", 1800),
    ("half a minute", 30), ("a quarter of an hour", 900), ("quarter of an hour", 900),
    ("three quarters of an hour", 2700), ("1 hour 30 minutes", 5400), ("1 hour and 30 minutes", 5400),
    ("two hours and fifteen minutes", 8100), ("2 hours, 15 minutes", 8100), ("1 hour 30", 5400),
    ("five minutes twenty", 320), ("five minutes and twenty seconds", 320), ("a couple of minutes", 120),
    ("a couple minutes", 120), ("twenty five minutes", 1500), ("forty-five seconds", 45), ("a day", 86400),
    ("two days", 172800), ("a week", 604800), ("400 days", 34_560_000), ("minus five minutes", -300),
    ("negative ten seconds", -10), ("1 second", 1), ("a second", 1), ("one hundred seconds", 100),
    ("three hours", 10800), ("seven and a half minutes", 450), ("two and a quarter hours", 8100),
    ("12 hours", 43200), ("24 hours", 86400), ("0.5 minutes", 30), ("one point five minutes", 90),
    ("an hour and 10 minutes", 4200), ("1h", 3600), ("90 s", 90), ("fifteen minutes", 900),
    ("a third of an hour", 1200), ("2 minutes and a half", 150), ("six hours", 21600),
]  # fmt: skip


@pytest.mark.parametrize(("text", "seconds"), DURATIONS)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


IN_SENTENCES = [
    ("set a timer for ten minutes", 600), ("timer for five minutes called pasta", 300),
    ("start an eggs timer for 4 and a half minutes", 270), ("add two minutes to the pasta timer", 120),
    ("set a timer for a minute and a half please", 90), ("set a 20 minute timer", 1200),
]  # fmt: skip


@pytest.mark.parametrize(("text", "seconds"), IN_SENTENCES)
def test_durations_in_sentences(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["five blargs", "for a while", "set a timer", "seven", "the pasta timer", ""])
def test_no_duration(text: str) -> None:
    assert parse_duration(text) is None


TIMES = [
    ("noon", (12, 0, True)), ("midday", (12, 0, True)), ("midnight", (0, 0, True)), ("seven", (7, 0, False)),
    ("7", (7, 0, False)), ("seven o'clock", (7, 0, False)), ("7 o'clock", (7, 0, False)),
    ("half past six", (6, 30, False)), ("a quarter to seven", (6, 45, False)), ("quarter to seven", (6, 45, False)),
    ("a quarter past seven", (7, 15, False)), ("ten to seven", (6, 50, False)), ("twenty past eight", (8, 20, False)),
    ("twenty five past eight", (8, 25, False)), ("ten minutes past six", (6, 10, False)),
    ("five to twelve", (11, 55, False)), ("quarter to one", (12, 45, False)), ("half past twelve", (12, 30, False)),
    ("7:30 pm", (19, 30, True)), ("7:30pm", (19, 30, True)), ("7:30 p.m.", (19, 30, True)), ("7:30", (7, 30, False)),
    ("19:45", (19, 45, True)), ("07:15", (7, 15, True)), ("00:30", (0, 30, True)), ("7 pm", (19, 0, True)),
    ("7pm", (19, 0, True)), ("7 a.m.", (7, 0, True)), ("12 am", (0, 0, True)), ("12 pm", (12, 0, True)),
    ("seven thirty", (7, 30, False)), ("seven oh five", (7, 5, False)), ("six forty five", (6, 45, False)),
    ("six forty five pm", (18, 45, True)), ("nineteen forty five", (19, 45, True)),
    ("nineteen hundred", (19, 0, True)), ("twenty two thirty", (22, 30, True)),
    ("seven in the evening", (19, 0, True)), ("eight in the morning", (8, 0, True)),
    ("three in the afternoon", (15, 0, True)), ("eleven at night", (23, 0, True)),
    ("quarter to midnight", (23, 45, True)), ("half past noon", (12, 30, True)), ("7:05am", (7, 5, True)),
    ("11:59 pm", (23, 59, True)), ("10 past 10", (10, 10, False)), ("a quarter past 11 pm", (23, 15, True)),
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), TIMES)
def test_times_of_day(text: str, expected: tuple[int, int, bool]) -> None:
    found = parse_time_of_day(text)
    assert found is not None
    assert (found.hour, found.minute, found.fixed) == expected


def at(day: int, hour: int, minute: int = 0, *, month: int = 12, year: int = 2026) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=LONDON)


WHEN = [  # said at NOW: Tuesday 1 December 2026, 20:31 London
    ("in twenty minutes", at(1, 20, 51)), ("in 5 minutes", at(1, 20, 36)), ("in an hour", at(1, 21, 31)),
    ("in an hour and a half", at(1, 22, 1)), ("in half an hour", at(1, 21, 1)), ("two hours from now", at(1, 22, 31)),
    ("in 3 hours", at(1, 23, 31)), ("in a day", at(2, 20, 31)), ("tomorrow morning", at(2, 9)),
    ("tomorrow afternoon", at(2, 15)), ("tomorrow evening", at(2, 18)), ("tomorrow night", at(2, 21)),
    ("tomorrow", at(2, 9)), ("tonight", at(1, 21)), ("tonight at nine", at(1, 21)),
    ("tonight at 11", at(1, 23)), ("on Friday", at(4, 9)), ("friday", at(4, 9)), ("this friday", at(4, 9)),
    ("next friday", at(4, 9)), ("on tuesday", at(8, 9)), ("next Monday at 8", at(7, 8)),
    ("monday at 8 pm", at(7, 20)), ("friday at 5", at(4, 17)), ("friday at 12", at(4, 12)),
    ("sunday afternoon", at(6, 15)), ("saturday morning at 10", at(5, 10)),
    ("wednesday at half past six", at(2, 18, 30)),
    ("at seven", at(2, 7)), ("at 7", at(2, 7)), ("at 9", at(1, 21)), ("at half past eight", at(2, 8, 30)),
    ("at a quarter to nine", at(1, 20, 45)), ("at 7:30 pm", at(2, 19, 30)), ("at 21:00", at(1, 21)),
    ("at 19:45", at(2, 19, 45)), ("at noon", at(2, 12)), ("at midnight", at(2, 0)), ("at 11 pm", at(1, 23)),
    ("tomorrow at midnight", at(3, 0)), ("tomorrow at 7", at(2, 7)), ("tomorrow at 3", at(2, 15)),
    ("tomorrow 7am", at(2, 7)), ("tomorrow at 6:45 am", at(2, 6, 45)), ("the day after tomorrow", at(3, 9)),
    ("the day after tomorrow at 10am", at(3, 10)), ("at 8 in the morning", at(2, 8)), ("at 10 tonight", at(1, 22)),
    ("this evening", at(1, 18)), ("on christmas day", at(25, 9)), ("christmas eve at 6 pm", at(24, 18)),
    ("on the 25th of december", at(25, 9)), ("december 31st at 11 pm", at(31, 23)), ("on the 3rd", at(3, 9)),
    ("on the 1st", at(1, 9, month=1, year=2027)), ("on new year's day", at(1, 9, month=1, year=2027)),
    ("on january 5th", at(5, 9, month=1, year=2027)), ("on the 5th of march at 2 pm", at(5, 14, month=3, year=2027)),
    ("halloween", at(31, 9, month=10, year=2027)), ("at 7 tomorrow", at(2, 7)), ("by 9 pm", at(1, 21)),
    ("ten minutes from now", at(1, 20, 41)), ("in ninety seconds", at(1, 20, 32) + dt.timedelta(seconds=30)),
]  # fmt: skip


@pytest.mark.parametrize(("text", "due"), WHEN)
def test_when(text: str, due: dt.datetime) -> None:
    assert parse_when(text, NOW) == due


WHEN_MORNING = [  # said at 06:10 on Tuesday 1 December
    ("at seven", at(1, 7)), ("at 6", at(1, 18)), ("at half past six", at(1, 6, 30)), ("at 5", at(1, 17)),
    ("tonight at 8", at(1, 20)), ("this afternoon", at(1, 15)), ("this morning at 8", at(1, 8)),
    ("in 20 minutes", at(1, 6, 30)), ("at noon", at(1, 12)), ("at 6:05", at(1, 18, 5)),
]  # fmt: skip


@pytest.mark.parametrize(("text", "due"), WHEN_MORNING)
def test_when_in_the_morning(text: str, due: dt.datetime) -> None:
    assert parse_when(text, MORNING) == due


def test_prefer_morning_for_alarms() -> None:
    assert parse_when("at 6", MORNING, prefer="am") == at(2, 6)
    assert parse_when("at 8", NOW, prefer="am") == at(2, 8)
    assert parse_when("for seven", NOW, bare=True, prefer="am") == at(2, 7)


@pytest.mark.parametrize("text", ["what is the capital of france", "seven", "set a timer", "", "for a while"])
def test_no_moment(text: str) -> None:
    assert parse_when(text, NOW) is None


def test_relative_times_are_elapsed_time_across_dst() -> None:
    before = dt.datetime(2026, 3, 29, 0, 30, tzinfo=LONDON)  # clocks go forward at 01:00 GMT
    assert parse_when("in two hours", before) == dt.datetime(2026, 3, 29, 3, 30, tzinfo=LONDON)
    autumn = dt.datetime(2026, 10, 25, 0, 30, tzinfo=LONDON)  # 02:00 BST → 01:00 GMT
    due = parse_when("in two hours", autumn)
    assert due is not None
    assert (due - autumn).total_seconds() == 7200 or due.astimezone(dt.timezone.utc) - autumn.astimezone(
        dt.timezone.utc
    ) == dt.timedelta(hours=2)
    assert due.astimezone(dt.timezone.utc) == dt.datetime(2026, 10, 25, 1, 30, tzinfo=dt.timezone.utc)


def test_wall_time_in_a_dst_gap_lands_after_it() -> None:
    sat = dt.datetime(2026, 3, 7, 22, 0, tzinfo=NEW_YORK)  # US clocks skip 02:00-03:00 on Sunday 8 March
    due = parse_when("tomorrow at 2:30 am", sat)
    assert due is not None
    assert due.astimezone(dt.timezone.utc) == dt.datetime(2026, 3, 8, 7, 30, tzinfo=dt.timezone.utc)
    assert (due.hour, due.minute) == (3, 30)


def test_wall_time_on_the_dst_fold_is_the_first_one() -> None:
    sat = dt.datetime(2026, 10, 31, 22, 0, tzinfo=NEW_YORK)  # 01:30 happens twice on Sunday 1 November
    due = parse_when("tomorrow at 1:30 am", sat)
    assert due is not None
    assert due.astimezone(dt.timezone.utc) == dt.datetime(2026, 11, 1, 5, 30, tzinfo=dt.timezone.utc)


def test_tomorrow_morning_after_dst_keeps_wall_time() -> None:
    sat = dt.datetime(2026, 3, 28, 22, 0, tzinfo=LONDON)
    assert parse_when("tomorrow at 7 am", sat) == dt.datetime(2026, 3, 29, 7, 0, tzinfo=LONDON)
    assert parse_when("tomorrow at 7 am", sat).utcoffset() == dt.timedelta(hours=1)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("seconds", "spoken"),
    [(600, "10 minutes"), (90, "1 minute and 30 seconds"), (3600, "1 hour"), (3725, "1 hour, 2 minutes and 5 seconds"),
     (1, "1 second"), (0, "0 seconds"), (86400, "1 day")],
)  # fmt: skip
def test_spoken_duration(seconds: float, spoken: str) -> None:
    assert spoken_duration(seconds) == spoken


@pytest.mark.parametrize(
    ("value", "spoken"), [(56, "56"), (7.62, "7.62"), (1 / 3, "0.33"), (-4.0, "-4"), (2.50, "2.5")]
)
def test_spoken_number(value: float, spoken: str) -> None:
    assert spoken_number(value) == spoken


def test_table_size() -> None:
    total = len(NUMBERS) + len(DURATIONS) + len(IN_SENTENCES) + len(TIMES) + len(WHEN) + len(WHEN_MORNING)
    assert total >= 200
