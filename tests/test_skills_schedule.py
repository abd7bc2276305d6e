"""The pure schedule: limits with spoken refusals, pause/resume/add, repeating alarms across DST, missed items."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from appliance.skills.errors import SkillError
from appliance.skills.schedule import (
    EVERY_DAY,
    MAX_TIMERS,
    WEEKDAYS,
    WEEKENDS,
    Alarm,
    Kind,
    Schedule,
    State,
    Timer,
    next_alarm,
    parse_repeat,
    repeat_name,
)

LONDON = ZoneInfo("Europe/London")
NOW = dt.datetime(2026, 12, 1, 20, 31, tzinfo=LONDON).timestamp()  # Tuesday


def ts(*args: int, tz: dt.tzinfo = LONDON) -> float:
    return dt.datetime(*args, tzinfo=tz).timestamp()


def test_timer_runs_pauses_resumes_and_adds_time() -> None:
    s = Schedule(LONDON)
    t = s.start_timer(600, "Pasta", NOW)
    assert (t.id, t.name, t.due, t.state) == (1, "pasta", NOW + 600, State.RUNNING)
    paused = s.pause(t, NOW + 100)
    assert paused.state is State.PAUSED and paused.remaining(NOW + 5000) == 500
    assert s.due_items(NOW + 5000) == []
    resumed = s.resume(paused, NOW + 1000)
    assert resumed.due == NOW + 1500 and resumed.remaining(NOW + 1000) == 500
    longer = s.add_time(resumed, 120, NOW + 1000)
    assert longer.due == NOW + 1620 and longer.duration_s == 720
    assert s.due_items(NOW + 1620) == [longer]


@pytest.mark.parametrize(
    ("seconds", "code"),
    [(-300, "timer-negative"), (0, "timer-too-short"), (0.5, "timer-too-short"), (86401, "timer-too-long"),
     (400 * 86400, "timer-too-long")],
)  # fmt: skip
def test_timer_limits_name_the_limit(seconds: float, code: str) -> None:
    with pytest.raises(SkillError) as err:
        Schedule(LONDON).start_timer(seconds, "", NOW)
    assert err.value.code == code
    assert "1 second to 24 hours" in err.value.speech


def test_timer_limits_are_inclusive() -> None:
    s = Schedule(LONDON)
    assert s.start_timer(1, "", NOW).due == NOW + 1
    assert s.start_timer(86400, "", NOW).due == NOW + 86400


def test_twenty_first_timer_is_refused() -> None:
    s = Schedule(LONDON)
    for n in range(MAX_TIMERS):
        s.start_timer(60 + n, "", NOW)
    with pytest.raises(SkillError) as err:
        s.start_timer(60, "", NOW)
    assert err.value.code == "too-many-timers" and "20 timers" in err.value.speech


def test_adding_time_past_a_day_is_refused() -> None:
    s = Schedule(LONDON)
    t = s.start_timer(23 * 3600, "", NOW)
    with pytest.raises(SkillError, match="24 hours"):
        s.add_time(t, 2 * 3600, NOW)


def test_alarm_more_than_a_year_out_is_refused() -> None:
    s = Schedule(LONDON)
    with pytest.raises(SkillError) as err:
        s.set_alarm(NOW, due=NOW + 366 * 86400)
    assert err.value.code == "too-far-ahead" and "a year" in err.value.speech
    with pytest.raises(SkillError) as err:
        s.set_reminder("bins", NOW + 400 * 86400, NOW)
    assert "Reminders can be set up to a year ahead" in err.value.speech
    with pytest.raises(SkillError, match="passed"):
        s.set_alarm(NOW, due=NOW - 60)


def test_repeating_alarm_next_day() -> None:
    s = Schedule(LONDON)
    a = s.set_alarm(NOW, hour=6, minute=30, days=WEEKDAYS)
    assert a.due == ts(2026, 12, 2, 6, 30)
    weekend = s.set_alarm(NOW, hour=9, minute=0, days=WEEKENDS)
    assert weekend.due == ts(2026, 12, 5, 9, 0)
    rung = s.fire(s.due_items(ts(2026, 12, 2, 6, 30))[0], ts(2026, 12, 2, 6, 30))
    assert rung.state is State.RINGING
    moved = s.finish(rung, ts(2026, 12, 2, 6, 31))
    assert moved is not None and moved.due == ts(2026, 12, 3, 6, 30) and moved.state is State.RUNNING


def test_friday_alarm_on_weekdays_skips_to_monday() -> None:
    friday = ts(2026, 12, 4, 6, 30)
    assert next_alarm(6, 30, WEEKDAYS, friday, LONDON) == ts(2026, 12, 7, 6, 30)


def test_repeating_alarm_keeps_wall_time_across_dst() -> None:
    before = ts(2026, 3, 28, 7, 0)  # Saturday 07:00 GMT; clocks go forward overnight
    after = next_alarm(7, 0, EVERY_DAY, before, LONDON)
    assert dt.datetime.fromtimestamp(after, LONDON).replace(tzinfo=None) == dt.datetime(2026, 3, 29, 7, 0)
    assert after - before == 23 * 3600
    autumn = ts(2026, 10, 24, 7, 0)
    assert next_alarm(7, 0, EVERY_DAY, autumn, LONDON) - autumn == 25 * 3600


def test_alarm_in_the_dst_gap_and_fold_rings_once() -> None:
    ny = ZoneInfo("America/New_York")
    gap = next_alarm(2, 30, EVERY_DAY, ts(2026, 3, 7, 12, 0, tz=ny), ny)
    assert gap == dt.datetime(2026, 3, 8, 7, 30, tzinfo=dt.timezone.utc).timestamp()  # 03:30 EDT, after the gap
    assert dt.datetime.fromtimestamp(gap, ny).hour == 3
    first = next_alarm(1, 30, EVERY_DAY, ts(2026, 10, 31, 12, 0, tz=ny), ny)
    assert first == dt.datetime(2026, 11, 1, 5, 30, tzinfo=dt.timezone.utc).timestamp()
    again = next_alarm(1, 30, EVERY_DAY, first, ny)  # the second 01:30 (fold) must not ring again
    assert again == dt.datetime(2026, 11, 2, 6, 30, tzinfo=dt.timezone.utc).timestamp()


def test_snooze_the_ringing_alarm_then_after_it_stopped() -> None:
    s = Schedule(LONDON)
    a = s.set_alarm(NOW, due=NOW + 60)
    s.fire(a, NOW + 60)
    snoozed = s.snooze(300, NOW + 70)
    assert snoozed is not None and snoozed.due == NOW + 370 and snoozed.state is State.SNOOZED
    s.fire(snoozed, NOW + 370)
    assert s.finish(s.items[a.id], NOW + 380) is None
    again = s.snooze(540, NOW + 400)  # stopped a moment ago: "snooze" still applies
    assert again is not None and again.due == NOW + 940
    s.fire(s.items[a.id], NOW + 940)
    s.finish(s.items[a.id], NOW + 950)
    assert s.snooze(300, NOW + 950 + 16 * 60) is None  # too long after it rang


def test_snooze_with_nothing_rung_is_none() -> None:
    assert Schedule(LONDON).snooze(300, NOW) is None


def test_missed_items_are_settled_not_rung_late() -> None:
    s = Schedule(LONDON)
    one_off = s.set_alarm(NOW, due=ts(2026, 12, 2, 7, 0))
    daily = s.set_alarm(NOW, hour=6, minute=30, days=EVERY_DAY)
    reminder = s.set_reminder("take the bins out", ts(2026, 12, 2, 8, 0), NOW)
    later = s.set_alarm(NOW, due=ts(2026, 12, 3, 7, 0))
    timer = s.start_timer(600, "pasta", NOW)
    restart = ts(2026, 12, 2, 9, 0)
    missed = s.missed(restart)
    assert [i.id for i in missed] == [timer.id, daily.id, one_off.id, reminder.id]
    assert s.due_items(restart) == []
    assert s.items[daily.id].due == ts(2026, 12, 3, 6, 30)
    assert set(s.items) == {daily.id, later.id}
    assert s.missed(restart) == []  # announced once


def test_item_just_due_at_restart_still_rings() -> None:
    s = Schedule(LONDON)
    t = s.start_timer(10, "", NOW)
    assert s.missed(NOW + 20) == []
    assert s.due_items(NOW + 20) == [t]


def test_find_cancel_by_name_and_kind() -> None:
    s = Schedule(LONDON)
    pasta = s.start_timer(600, "pasta", NOW)
    s.start_timer(300, "eggs", NOW)
    s.set_alarm(NOW, due=NOW + 3600)
    assert s.find(kind=Kind.TIMER, name="Pasta") == [pasta]
    assert s.remove(s.find(kind=Kind.TIMER)) and s.of_kind(Kind.TIMER) == []
    assert len(s.of_kind(Kind.ALARM)) == 1


def test_as_dict_shape() -> None:
    s = Schedule(LONDON)
    t = s.start_timer(90, "eggs", NOW)
    assert t.as_dict(NOW + 30) == {
        "id": 1, "kind": "timer", "name": "eggs", "text": "", "due": round(NOW + 90, 3), "remaining_s": 60.0,
        "repeat": "", "state": "running",
    }  # fmt: skip
    a = s.set_alarm(NOW, hour=6, minute=30, days=WEEKDAYS)
    assert isinstance(a, Alarm) and a.as_dict(NOW)["repeat"] == "weekdays" and a.as_dict(NOW)["kind"] == "alarm"
    assert isinstance(t, Timer) and t.label == "the eggs timer"


@pytest.mark.parametrize(
    ("days", "name"),
    [((), ""), (EVERY_DAY, "daily"), (WEEKDAYS, "weekdays"), (WEEKENDS, "weekends"), ((0, 2), "monday,wednesday")],
)
def test_repeat_names_round_trip(days: tuple[int, ...], name: str) -> None:
    assert repeat_name(days) == name
    assert parse_repeat(name) == days
