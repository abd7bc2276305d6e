"""Accuracy of the skill intents on a labelled phrasing set (``tests/data/skills_labelled.tsv``).

Each line: ``phrasing<TAB>intent<TAB>key=value`` (``-``: only the intent is
checked; intent ``none``: no skill may claim it).  Values are compared
exactly: a duration in seconds, a due moment to the minute in the set's zone,
a number to within 0.005, list items joined by ``|``, a repeat as
``weekdays@06:45``.  Every line is said at :data:`EVAL_NOW`.
``appliance bench`` calls :func:`evaluate` and reports ``accuracy``.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

from appliance.skills.engine import Skills
from appliance.skills.intents import SkillIntents
from appliance.skills.settings import SkillsSettings
from appliance.skills.store import FILENAME, SkillStore
from appliance.skills.voice import SkillContext
from appliance.voice.reply import Intent

EVAL_ZONE = ZoneInfo("Europe/London")
EVAL_NOW = dt.datetime(2026, 12, 1, 20, 31, tzinfo=EVAL_ZONE)
"""Tuesday 1 December 2026, 20:31: the moment every labelled phrasing is said at."""
DEFAULT_SET = Path(__file__).resolve().parents[2] / "tests" / "data" / "skills_labelled.tsv"
HELD_OUT_SET = DEFAULT_SET.with_name("skills_heldout.tsv")
"""A batch written by someone else after the parser was done, and never used to tune it."""


@dataclass(frozen=True)
class Case:
    text: str
    intent: str
    key: str = ""
    value: str = ""


@dataclass
class Report:
    total: int = 0
    correct: int = 0
    failures: list[tuple[Case, str]] = field(default_factory=list)
    """Each wrong case with what was got instead."""

    @property
    def accuracy(self) -> float:
        """Share of cases right, 0–1."""
        return self.correct / self.total if self.total else 0.0


def load(path: Path = DEFAULT_SET) -> list[Case]:
    """The labelled cases in ``path`` (comments and blank lines skipped)."""
    cases = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        text, intent, expect = line.split("\t")
        key, _, value = expect.partition("=") if expect != "-" else ("", "", "")
        cases.append(Case(text, intent, key, value))
    return cases


def observed(intent: Intent | None, key: str) -> str:
    """The value an intent's data gives for ``key``, written as the labelled set writes it."""
    if intent is None:
        return "none"
    data = intent.data
    if key == "due" and "due" in data:
        return dt.datetime.fromisoformat(str(data["due"])).astimezone(EVAL_ZONE).strftime("%Y-%m-%dT%H:%M")
    if key == "repeat" and "repeat" in data:
        return f"{data['repeat']}@{int(data['hour']):02d}:{int(data['minute']):02d}"  # type: ignore[call-overload]
    if key == "items" and "items" in data:
        items = data["items"]
        return "|".join(str(i) for i in items) if isinstance(items, (list, tuple)) else str(items)
    if key in ("duration_s", "value", "level") and key in data:
        return f"{float(data[key]):g}"  # type: ignore[arg-type]
    return str(data.get(key, "<missing>"))


def right(case: Case, intent: Intent | None) -> bool:
    """Whether ``intent`` is what ``case`` expects."""
    if case.intent == "none" or intent is None:
        return intent is None and case.intent == "none"
    if intent.name != case.intent:
        return False
    if not case.key:
        return True
    got = observed(intent, case.key)
    if case.key in ("duration_s", "value", "level"):
        try:
            return abs(float(got) - float(case.value)) <= 0.005
        except ValueError:
            return False
    return got == case.value


def matcher(now: dt.datetime = EVAL_NOW) -> SkillIntents:
    """Skill intents over an empty schedule with the clock stopped at ``now`` (``match`` touches no file)."""
    store = SkillStore(Path(tempfile.gettempdir()) / "appliance-skills-eval" / FILENAME)
    skills = Skills(store, tz=now.tzinfo or EVAL_ZONE, now=now.timestamp)
    return SkillIntents(SkillContext(skills, SkillsSettings()))


def evaluate(path: Path = DEFAULT_SET, now: dt.datetime = EVAL_NOW) -> Report:
    """Match every labelled phrasing; the report's ``accuracy`` is the share right."""
    intents = matcher(now)
    report = Report()
    for case in load(path):
        intent = intents.match(case.text)
        report.total += 1
        if right(case, intent):
            report.correct += 1
        else:
            got = "none" if intent is None else f"{intent.name} {observed(intent, case.key) if case.key else ''}"
            report.failures.append((case, got.strip()))
    return report


if __name__ == "__main__":  # python -m appliance.skills.evaluate
    result = evaluate()
    for case, got in result.failures:
        print(f"{case.text!r}: wanted {case.intent} {case.key}={case.value}, got {got}")
    print(f"accuracy {result.accuracy:.1%} ({result.correct}/{result.total})")
