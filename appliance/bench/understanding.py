"""``appliance bench --only understanding``: a labelled set of everyday requests through a turn's matcher chain.

Each line of the set (``tests/data/understanding_en.tsv``; another with ``--set PATH``) is
``text<TAB>intent<TAB>key=value;key=value``: ``-`` checks only the intent, intent ``none`` means
no skill or home rule may claim it (it goes to the LLM).  Every request goes through
``pipeline.intents`` of an in-process appliance exactly as a turn does (control characters
stripped, the first matcher that answers wins); the intents' actions are never run, the values
come from ``Intent.data``.  The appliance lives in a throw-away state dir with the household of
:mod:`appliance.bench.understanding_home`, a private Mosquitto, and its clock stopped at
:data:`~appliance.bench.understanding_home.EVAL_NOW`.

Values are compared as ``skills/evaluate.py`` compares them: numbers to within 0.005 (``+`` or
``-`` alone: only the sign), a due moment to the minute in the set's zone, devices sorted and
items in the order said, both "|"-joined; anything else exactly.

Reported: ``intent_accuracy`` (the right intent) and ``accuracy`` (the right intent with every
labelled value), overall and per intent; the share left to the LLM; recognition time per request
(p50/p99, wall clock and the process's CPU time, and per matcher); the failures (all of them with
``--verbose``); and the same requests' recognition time with 300 devices in 50 areas configured
(the target: p99 under 20 ms).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from appliance.audio.sink import NullSink
from appliance.bench.harness import percentile
from appliance.bench.understanding_home import EVAL_NOW, EVAL_ZONE, HERE, LISTS, TIMERS, fixture_home, scaled_home
from appliance.core.control_chars import strip_control_chars
from appliance.core.errors import UsageError
from appliance.core.progress import Progress
from appliance.voice.reply import Intent, IntentMatcher

if TYPE_CHECKING:
    from appliance.engines.loader import Engines
    from appliance.models.registry import ModelRegistry
    from appliance.runtime.app import Appliance
    from appliance.settings import HomeDevice, Settings

DEFAULT_SET = Path(__file__).resolve().parents[2] / "tests" / "data" / "understanding_en.tsv"
NUMERIC = ("duration_s", "level", "delta", "brightness", "step", "value")
"""Keys compared as numbers (to within 0.005); ``+`` or ``-`` alone checks only the sign."""
TARGET_P99_MS = 20.0
SHOWN_FAILURES = 25
"""Failures listed in the report without ``--verbose``."""

Matcher = Callable[[str], Intent | None]


@dataclass(frozen=True)
class Case:
    """One labelled request: what is said, the intent it must reach and the values it must carry."""

    text: str
    intent: str
    expect: tuple[tuple[str, str], ...] = ()
    line: int = 0


def parse_line(line: str, number: int = 0) -> Case | None:
    """One line of a set; None for a comment or a blank line; ValueError for a malformed one."""
    if not line.strip() or line.startswith("#"):
        return None
    fields = line.split("\t")
    if len(fields) != 3 or not fields[1].strip():
        raise ValueError(f"line {number}: expected text<TAB>intent<TAB>key=value;… or -, got {line[:80]!r}")
    text, intent, values = fields
    expect: list[tuple[str, str]] = []
    if values.strip() != "-":
        for pair in values.split(";"):
            key, eq, value = pair.partition("=")
            if not eq or not key.strip():
                raise ValueError(f"line {number}: {pair!r} is not key=value")
            expect.append((key.strip(), value))
    return Case(text, intent.strip(), tuple(expect), number)


def load_set(path: Path = DEFAULT_SET) -> list[Case]:
    """Every labelled case in ``path``; a :class:`UsageError` for a file that cannot be read or parsed."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
        cases = [case for n, line in enumerate(lines, 1) if (case := parse_line(line, n)) is not None]
    except (OSError, UnicodeDecodeError) as err:
        raise UsageError("understanding-set-unreadable", f"cannot read the labelled set {path}: {err}") from err
    except ValueError as err:
        raise UsageError("understanding-set-malformed", f"{path}: {err}") from err
    if not cases:
        raise UsageError("understanding-set-empty", f"{path} holds no labelled request")
    return cases


def observed(intent: Intent | None, key: str) -> str:
    """The value ``intent.data`` gives for ``key``, written as the set writes it."""
    if intent is None:
        return "none"
    data = intent.data
    if key not in data:
        return "<missing>"
    value = data[key]
    try:
        if key == "due":
            moment = (
                dt.datetime.fromtimestamp(value, EVAL_ZONE)
                if isinstance(value, (int, float))
                else dt.datetime.fromisoformat(str(value)).astimezone(EVAL_ZONE)
            )
            return moment.strftime("%Y-%m-%dT%H:%M")
        if key == "repeat":
            return f"{value}@{int(data['hour']):02d}:{int(data['minute']):02d}"  # type: ignore[call-overload]
    except (ValueError, TypeError, KeyError, OverflowError, OSError):
        return f"<unreadable {value!r}>"  # a wrong value, not a crash of the bench
    if isinstance(value, (list, tuple, set, frozenset)):
        parts = [str(v) for v in value]
        return "|".join(sorted(parts) if key == "devices" or not isinstance(value, (list, tuple)) else parts)
    if isinstance(value, float) or (key in NUMERIC and isinstance(value, int) and not isinstance(value, bool)):
        return f"{float(value):.12g}"
    return str(value)


def value_right(key: str, want: str, got: str) -> bool:
    """Whether an observed value is the labelled one."""
    if key in NUMERIC:
        try:
            number = float(got)
        except ValueError:
            return False
        if want in ("+", "-"):
            return number > 0 if want == "+" else number < 0
        try:
            return abs(number - float(want)) <= 0.005
        except ValueError:
            return False
    if want.lower() in ("true", "false"):
        return got.lower() == want.lower()
    return got == want


def chain(intents: Sequence[IntentMatcher], spent: dict[str, list[float]] | None = None) -> Matcher:
    """Match as a turn does (``ReplyAttempt``): control characters out, stripped, first matcher that answers.

    With ``spent``, each matcher's milliseconds per request it was asked are added under its class name.
    """

    def match(text: str) -> Intent | None:
        text = strip_control_chars(text).strip()
        if not text:
            return None
        if spent is None:
            return next((i for m in intents if (i := m.match(text)) is not None), None)
        for matcher in intents:
            start = time.perf_counter()
            intent = matcher.match(text)
            spent.setdefault(type(matcher).__name__, []).append((time.perf_counter() - start) * 1000)
            if intent is not None:
                return intent
        return None

    return match


@dataclass
class Outcome:
    case: Case
    got: Intent | None
    ms: float
    """Wall-clock milliseconds the chain took."""
    cpu_ms: float = 0.0
    """The process's CPU milliseconds meanwhile (every thread, the audio thread's share too): roughly what the
    wall clock would show on a machine no other process loads."""
    raised: str = ""

    @property
    def intent_right(self) -> bool:
        return not self.raised and (self.got.name if self.got is not None else "none") == self.case.intent

    @property
    def right(self) -> bool:
        """The right intent with every labelled value."""
        return self.intent_right and all(value_right(k, v, observed(self.got, k)) for k, v in self.case.expect)

    def describe(self) -> dict[str, Any]:
        want = " ".join([self.case.intent, *(f"{k}={v}" for k, v in self.case.expect)])
        name = self.raised or (self.got.name if self.got is not None else "none")
        got = " ".join([name, *(f"{k}={observed(self.got, k)}" for k, _ in self.case.expect if self.got)])
        text = self.case.text if len(self.case.text) <= 120 else self.case.text[:117] + "..."
        data = {k: v for k, v in (self.got.data if self.got else {}).items()}
        return {"line": self.case.line, "text": text, "want": want, "got": got, "data": repr(data)[:300]}


def run_cases(cases: Sequence[Case], match: Matcher, label: str = "understanding") -> Iterator[Outcome]:
    """Each case through ``match``, timed (a matcher that raises is an outcome, not an abort)."""
    with Progress(label, len(cases), unit="requests", scale=1) as progress:
        for case in cases:
            start, cpu, raised = time.perf_counter(), time.process_time(), ""
            try:
                got = match(case.text)
            except Exception as err:  # noqa: BLE001 - recognition must never raise: counted, and the run goes on
                got, raised = None, f"raised {type(err).__name__}: {err}"
            ms, cpu_ms = (time.perf_counter() - start) * 1000, (time.process_time() - cpu) * 1000
            yield Outcome(case, got, ms, cpu_ms, raised)
            progress.update(1)


def timing(ms: Sequence[float]) -> dict[str, Any]:
    return {"p50": percentile(ms, 0.5), "p99": percentile(ms, 0.99), "max": round(max(ms), 3) if ms else None}


def summarize(outcomes: Sequence[Outcome], *, verbose: bool = False) -> dict[str, Any]:
    """Intent and value accuracy overall and per intent, the share left to the LLM, timing, failures."""
    total = len(outcomes)
    per: dict[str, dict[str, Any]] = {}
    for o in outcomes:
        row = per.setdefault(o.case.intent, {"n": 0, "intent_right": 0, "right": 0})
        row["n"] += 1
        row["intent_right"] += o.intent_right
        row["right"] += o.right
    for row in per.values():
        row["intent_accuracy"] = round(row["intent_right"] / row["n"], 4)
        row["value_accuracy"] = round(row["right"] / row["n"], 4)
    failures = [o.describe() for o in outcomes if not o.right]
    handled_expected = [o for o in outcomes if o.case.intent != "none"]

    def share(count: int, of: int) -> float:
        return round(count / of, 4) if of else 0.0

    return {
        "requests": total,
        "intent_accuracy": share(sum(o.intent_right for o in outcomes), total),
        "accuracy": share(sum(o.right for o in outcomes), total),
        "to_llm_share": share(sum(o.got is None for o in outcomes), total),
        "to_llm_though_labelled": sum(o.got is None for o in handled_expected),
        "claimed_though_none": sum(o.got is not None for o in outcomes if o.case.intent == "none"),
        "raised": sum(bool(o.raised) for o in outcomes),
        "recognition_ms": timing([o.ms for o in outcomes]),
        "recognition_cpu_ms": timing([o.cpu_ms for o in outcomes]),
        "per_intent": dict(sorted(per.items())),
        "failure_count": len(failures),
        "failures": failures if verbose else failures[:SHOWN_FAILURES],
    }


def score(cases: Sequence[Case], match: Matcher, *, verbose: bool = False) -> dict[str, Any]:
    """The whole report for ``cases`` matched by ``match``."""
    return summarize(list(run_cases(cases, match)), verbose=verbose)


# -- the appliance the set is said to ------------------------------------------------------------
def bench_settings(settings: Settings, state: Path, devices: tuple[HomeDevice, ...], port: int) -> Settings:
    """``settings`` on a throw-away state dir (sharing the joined models) with the bench's home and broker."""
    (state / "models").symlink_to(settings.state_dir / "models")
    return replace(
        settings,
        paths=replace(settings.paths, state_dir=str(state), runtime_dir=str(state / "run")),
        mqtt=replace(
            settings.mqtt, host="127.0.0.1", port=port, devices=devices, tls=False, username="", password_file=""
        ),
        rooms=replace(settings.rooms, area=HERE),
        skills=replace(settings.skills, enabled=True, timezone=str(EVAL_ZONE)),
        vision=replace(settings.vision, enabled=False),
    )


async def household(app: Appliance) -> None:
    """Stop the skills' clock at EVAL_NOW; start the set's timers and fill its lists (over the command layer)."""
    from appliance.skills.feature import SkillsFeature
    from appliance.understanding.semantic import SemanticFeature

    skills = app.feature(SkillsFeature)
    assert skills is not None, "bench_settings turns the skills on"
    skills.skills.now = EVAL_NOW.timestamp
    semantic = app.feature(SemanticFeature)
    if semantic is not None:  # the daemon does not wait for its examples; the bench does
        await semantic.loaded()
    for name, seconds in TIMERS:
        await app.commands.execute("timer.start", {"duration_s": seconds, "name": name})
    for name, items in LISTS.items():
        await app.commands.execute("list.add", {"list": name, "items": list(items)})


@asynccontextmanager
async def appliance_with(
    settings: Settings, engines: Engines, registry: ModelRegistry, devices: tuple[HomeDevice, ...]
) -> Any:
    """An in-process appliance with ``devices`` and the set's household, on a private broker."""
    from appliance.integrations.mqtt.broker import Mosquitto
    from appliance.runtime.inprocess import running

    with tempfile.TemporaryDirectory(prefix="bench-understanding-") as tmp:
        broker = Mosquitto(Path(tmp) / "broker").start()
        try:
            state = Path(tmp) / "state"
            state.mkdir()
            async with running(
                bench_settings(settings, state, devices, broker.port), engines, registry, NullSink()
            ) as app:
                await household(app)
                yield app
        finally:
            broker.stop()


async def said_to(app: Appliance, cases: Sequence[Case]) -> tuple[list[Outcome], dict[str, Any]]:
    """Every case through ``app``'s matcher chain, one per loop turn; with the timing of the first request
    (apart: it may pay for what the matchers build lazily) and the time each matcher took."""
    spent: dict[str, list[float]] = {}
    match = chain(app.core.pipeline.intents, spent)
    start = time.perf_counter()
    match(cases[0].text)
    first_ms = round((time.perf_counter() - start) * 1000, 3)
    spent.clear()
    outcomes = []
    for outcome in run_cases(cases, match):
        outcomes.append(outcome)
        await asyncio.sleep(0)
    figures = {
        "first_request_ms": first_ms,
        "by_matcher_ms": {name: timing(ms) for name, ms in spent.items()},
        "load_average_1min": round(os.getloadavg()[0], 2),
    }
    return outcomes, figures


async def measure_understanding(
    settings: Settings,
    engines: Engines,
    registry: ModelRegistry,
    log: Callable[[str], None],
    *,
    set_path: Path | None = None,
    verbose: bool = False,
    scale: tuple[int, int] | None = (300, 50),
) -> dict[str, Any]:
    """Score the labelled set, then time it with ``scale`` = (devices, areas) configured (None: skip that)."""
    path = set_path or DEFAULT_SET
    cases = load_set(path)
    log(f"understanding: {len(cases)} labelled requests from {path}")
    async with appliance_with(settings, engines, registry, fixture_home()) as app:
        outcomes, figures = await said_to(app, cases)
    report = {"set": str(path), "said_at": EVAL_NOW.isoformat(), **summarize(outcomes, verbose=verbose), **figures}
    if verbose:
        for failure in report["failures"]:
            print(
                f"{failure['line']}: {failure['text']!r}: wanted {failure['want']}, got {failure['got']}",
                file=sys.stderr,
            )
    if scale is not None:
        devices, areas = scale
        log(f"understanding: recognition time with {devices} devices in {areas} areas")
        async with appliance_with(settings, engines, registry, scaled_home(devices, areas)) as app:
            timed, big = await said_to(app, cases)
        ms = timing([o.ms for o in timed])
        report["scaled"] = {
            "devices": devices,
            "areas": areas,
            "recognition_ms": ms,
            "recognition_cpu_ms": timing([o.cpu_ms for o in timed]),
            **big,
            "target_p99_ms": TARGET_P99_MS,
            "within_target": ms["p99"] is not None and ms["p99"] < TARGET_P99_MS,
        }
    return report
