"""The understanding bench: its labelled set, its scorer (with a fake matcher chain), and a real run on a slice."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest

from appliance.bench.understanding import (
    DEFAULT_SET,
    NUMERIC,
    Case,
    chain,
    load_set,
    measure_understanding,
    observed,
    parse_line,
    score,
)
from appliance.bench.understanding_home import EVAL_NOW, HOME, fixture_home, scaled_home
from appliance.core.errors import UsageError
from appliance.voice.reply import Intent

CONTRACT = {
    "timer.start", "timer.cancel", "timer.add", "timer.remove", "timer.pause", "timer.resume", "timer.remaining",
    "timers.list", "clock.time", "clock.date", "clock.weekday", "device.volume_set", "device.volume_up",
    "device.volume_down", "media.pause", "media.resume", "media.next", "media.previous", "device.stop",
    "device.cancel", "list.add", "list.remove", "list.show", "list.clear", "home.on", "home.off", "home.brightness",
    "home.state", "home.ambiguous", "home.unknown", "rooms.broadcast",
}  # fmt: skip
"""Every intent the shared contract names (each must be in the set)."""
EXISTING = {
    "alarm.set", "alarm.cancel", "alarm.snooze", "alarms.list", "reminder.set", "reminder.cancel", "reminders.list",
    "calc", "convert", "clock.days_until", "clock.date_of", "memory.remember", "memory.recall", "memory.forget",
    "memory.forget_today", "device.repeat", "help",
}  # fmt: skip
"""The appliance's intents from before the contract, kept under their names."""


def test_the_set_has_enough_lines_each_with_a_known_intent_and_well_formed_values() -> None:
    cases = load_set()
    counts = Counter(case.intent for case in cases)
    assert len(cases) >= 520
    assert set(counts) <= CONTRACT | EXISTING | {"none"}, set(counts) - CONTRACT - EXISTING
    assert set(counts) >= CONTRACT, CONTRACT - set(counts)
    assert counts["none"] >= 50 and len({case.text for case in cases}) == len(cases)
    names = {d.name for d in fixture_home()}
    for case in cases:
        for key, value in case.expect:
            if key == "devices":
                devices = value.split("|")
                assert set(devices) <= names and devices == sorted(devices), case
            elif key in NUMERIC and value not in ("+", "-"):
                float(value)
        assert case.intent != "none" or not case.expect, case


def test_the_fixture_home_is_the_one_the_set_describes() -> None:
    home = fixture_home()
    lights = [d for d in home if d.kind == "light"]
    assert len(lights) == 17 and len({d.area for d in home}) == 12 and len(home) == len(HOME)
    assert sum(d.dimmable for d in home) == 10
    big = scaled_home(300, 50)
    assert len(big) == 300 and len({d.area for d in big}) == 50 and len({d.name for d in big}) == 300
    with pytest.raises(ValueError):
        scaled_home(400, 50)


def test_lines_parse_into_intent_and_several_values() -> None:
    assert parse_line("# a comment") is None and parse_line("   ") is None
    assert parse_line("what time is it\tclock.time\t-", 3) == Case("what time is it", "clock.time", (), 3)
    case = parse_line("a pasta timer, 12 min\ttimer.start\tduration_s=720;name=pasta")
    assert case is not None and case.expect == (("duration_s", "720"), ("name", "pasta"))
    assert parse_line("\tnone\t-") == Case("", "none", ())
    assert parse_line("x\ttimer.start\tname=") == Case("x", "timer.start", (("name", ""),))
    for bad in ("no tabs here", "a\tb", "a\ttimer.start\tduration_s", "a\t\t-", "a\tb\tc\td"):
        with pytest.raises(ValueError):
            parse_line(bad, 7)


def test_a_set_that_cannot_be_scored_is_a_usage_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.tsv"
    bad.write_text("# fine\nturn on the porch light\thome.on\n", encoding="utf-8")
    empty = tmp_path / "empty.tsv"
    empty.write_text("# only a comment\n", encoding="utf-8")
    for path, code in ((bad, "malformed"), (empty, "empty"), (tmp_path / "missing.tsv", "unreadable")):
        with pytest.raises(UsageError) as caught:
            load_set(path)
        assert caught.value.code == f"understanding-set-{code}"
    with pytest.raises(UsageError, match="line 2"):
        load_set(bad)


class FakeChain:
    """A matcher chain driven by a table: text -> Intent (anything else goes to the LLM)."""

    def __init__(self, table: dict[str, Intent]) -> None:
        self.table = table
        self.asked: list[str] = []

    def match(self, text: str) -> Intent | None:
        self.asked.append(text)
        if text == "explode":
            raise RuntimeError("boom")
        return self.table.get(text)


def test_the_scorer_counts_intents_values_the_llm_share_and_failures() -> None:
    due = EVAL_NOW.replace(hour=22, minute=0)
    table = {
        "ten minutes": Intent("timer.start", "", data={"duration_s": 600.0, "name": ""}),
        "eleven minutes": Intent("timer.start", "", data={"duration_s": 600, "name": ""}),  # wrong value
        "lights": Intent("home.off", "", data={"devices": ["porch light", "kitchen light"], "area": ""}),
        "dimmer": Intent("home.brightness", "", data={"devices": ["desk lamp"], "step": -10}),
        "all timers": Intent("timer.cancel", "", data={"every": True}),
        "alarm": Intent("alarm.set", "", data={"due": due.isoformat()}),
        "list": Intent("list.add", "", data={"items": ["milk", "eggs"], "list": "shopping"}),
        "a joke": Intent("clock.time", ""),  # claimed though it should go to the LLM
    }
    cases = [
        Case("ten minutes", "timer.start", (("duration_s", "600"), ("name", ""))),
        Case("eleven minutes", "timer.start", (("duration_s", "660"),)),
        Case("lights", "home.off", (("devices", "kitchen light|porch light"),)),
        Case("dimmer", "home.brightness", (("devices", "desk lamp"), ("step", "-"))),
        Case("all timers", "timer.cancel", (("every", "True"),)),
        Case("alarm", "alarm.set", (("due", "2026-12-01T22:00"),)),
        Case("list", "list.add", (("items", "eggs|milk"),)),  # items keep the order said
        Case("what's the weather", "none"),
        Case("a joke", "none"),
        Case("what time is it", "clock.time"),  # left to the LLM though labelled
        Case("  \x07 ", "none"),  # nothing left once cleaned: never reaches a matcher
        Case("explode", "clock.time"),
    ]
    fake = FakeChain(table)
    report = score(cases, chain([fake]))
    assert report["requests"] == 12 and report["raised"] == 1
    assert report["intent_accuracy"] == round(9 / 12, 4) and report["accuracy"] == round(7 / 12, 4)
    assert report["to_llm_share"] == round(4 / 12, 4)
    assert report["to_llm_though_labelled"] == 2 and report["claimed_though_none"] == 1
    assert report["per_intent"]["timer.start"] == {
        "n": 2,
        "intent_right": 2,
        "right": 1,
        "intent_accuracy": 1.0,
        "value_accuracy": 0.5,
    }
    assert report["per_intent"]["none"]["right"] == 2 and report["per_intent"]["clock.time"]["right"] == 0
    failures = {f["text"]: f for f in report["failures"]}
    assert set(failures) == {"eleven minutes", "list", "a joke", "what time is it", "explode"}
    assert failures["eleven minutes"]["got"] == "timer.start duration_s=600"
    assert failures["list"]["got"] == "list.add items=milk|eggs"
    assert failures["explode"]["got"].startswith("raised RuntimeError")
    assert "  \x07 " not in fake.asked and report["failure_count"] == 5
    assert set(report["recognition_ms"]) == set(report["recognition_cpu_ms"]) == {"p50", "p99", "max"}


def test_values_are_written_as_the_set_writes_them() -> None:
    assert observed(None, "level") == "none"
    assert observed(Intent("x", "", data={}), "level") == "<missing>"
    assert observed(Intent("x", "", data={"level": 40}), "level") == "40"
    assert observed(Intent("x", "", data={"due": EVAL_NOW.timestamp()}), "due") == "2026-12-01T20:31"
    assert observed(Intent("x", "", data={"repeat": "daily", "hour": 7, "minute": 5}), "repeat") == "daily@07:05"
    assert observed(Intent("x", "", data={"devices": "porch light"}), "devices") == "porch light"
    assert observed(Intent("x", "", data={"value": 1234567}), "value") == "1234567"
    assert observed(Intent("x", "", data={"value": 2.5}), "value") == "2.5"
    assert observed(Intent("x", "", data={"due": "soon"}), "due") == "<unreadable 'soon'>"


def test_the_bench_scores_a_slice_with_the_real_chain(engines, registry, tmp_path: Path) -> None:
    from appliance.settings import Settings

    lines = [line for line in DEFAULT_SET.read_text(encoding="utf-8").splitlines() if not line.startswith("#")]
    step = len(lines) // 20
    slice_path = tmp_path / "slice.tsv"
    slice_path.write_text("\n".join(lines[::step][:20]) + "\n", encoding="utf-8")
    said: list[str] = []
    report = asyncio.run(
        asyncio.wait_for(
            measure_understanding(Settings(), engines, registry, said.append, set_path=slice_path, scale=None),
            timeout=300,
        )
    )
    assert report["requests"] == 20 and report["raised"] == 0 and said
    assert sum(row["n"] for row in report["per_intent"].values()) == 20
    assert 0.0 <= report["accuracy"] <= report["intent_accuracy"] <= 1.0
    assert report["failure_count"] == round(20 * (1 - report["accuracy"]))
    assert "scaled" not in report and report["by_matcher_ms"]
