"""The semantic layer's values: read with the skills' slot parsers, then said back as the request the rules know.

Once :mod:`.semantic` has placed a request ("could you time ten minutes for
me" → ``timer.start``), the values are read with the same parsers the rules
use (:mod:`appliance.skills.durations`, :mod:`~appliance.skills.numbers`,
:data:`~appliance.skills.engine.LIST_ALIASES`, the home
:class:`~appliance.home.devices.DeviceDirectory`) and written into the
intent's plain request ("set a timer for 600 seconds"), which the rules then
turn into the very intent they would have built: one builder per intent, never two.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from appliance.home.devices import DeviceDirectory
from appliance.home.phrases import normalize
from appliance.skills.durations import find_duration
from appliance.skills.engine import LIST_ALIASES
from appliance.skills.numbers import parse_number, words
from appliance.skills.phrasing import name_before, split_items

FUNCTION_WORDS = frozenset(
    re.split(
        r"\s+",
        "a an the my our your this that these those some any it them me i we you us to of for on in at from with "
        "and please now just also then so there here is are be",
    )
)
"""Words never taken for an item or a device on their own."""
_TIMER_NOUNS = ("timer", "countdown")
_EXTRA = frozenset({"more", "extra", "additional", "further", "another"})
_EVERY = re.compile(r"\b(?:all|every|both|everything)\b|\b(?:timers|countdowns)\b")
_LIST_WORDS = sorted(LIST_ALIASES, key=len, reverse=True)
_BRIGHTER = re.compile(r"\b(?:bright\w*|up|more|lighter|full|max\w*)\b")
_DIMMER = re.compile(r"\b(?:dim\w*|dark\w*|down|less|lower|harsh|soft\w*)\b")
_EVERYWHERE = re.compile(r"\b(?:everywhere|everything|all (?:the )?lights|every light)\b")
_HERE = re.compile(r"\b(?:in here|this room)\b")
_LIGHTS = re.compile(r"\b(?:lights?|lamps?|everything)\b")


@dataclass(frozen=True)
class IntentText:
    """What the examples file says about one intent besides its examples."""

    name: str
    title: str = ""
    """How "Did you mean …?" names it ("add time to a timer")."""
    say: tuple[str, ...] = ()
    """Plain requests with ``{slot}`` places, most specific first: the first whose slots are all known is used."""
    ask: Mapping[str, str] = field(default_factory=dict)
    """A required slot → the question asked when it is missing ("duration" → "For how long?")."""
    cue: re.Pattern[str] | None = None
    """Words that say this intent rather than its siblings (on/off, up/down, add/remove)."""
    decisive: re.Pattern[str] | None = None
    """Words that say this intent whatever other cues say ("is the heater off?" asks, it does not switch)."""
    exclude: re.Pattern[str] | None = None
    """Words that say the request is about something else ("the time in Tokyo"): left to the LLM."""
    forms: frozenset[str] = frozenset()
    """How it may be said besides as a request: ``question`` ("what's left on the timer"); see :mod:`.semantic_form`."""

    def slots(self) -> set[str]:
        """Every slot its requests and questions use."""
        return {m for template in self.say for m in re.findall(r"\{(\w+)\}", template)} | set(self.ask)


def read_values(
    said: str, slots: Collection[str], carriers: Collection[str], devices: DeviceDirectory | None
) -> dict[str, str]:
    """The values of ``slots`` said in ``said`` (cleaned text); a slot not said is left out."""
    tokens = words(said)
    out: dict[str, str] = {}
    if "duration" in slots:
        tokens = [t for t in tokens if t not in _EXTRA]  # "five more minutes": the duration is five minutes
    if "duration" in slots and (span := find_duration(tokens)) is not None and span.value > 0:
        out["duration"] = str(round(span.value))
    if "name" in slots:
        rest = tokens
        if span := find_duration(tokens):
            rest = tokens[: span.start] + tokens[span.end :]
        noun = next((n for n in _TIMER_NOUNS if n in rest), None)
        name = name_before(rest, noun) if noun else ""
        if name:
            out["name"] = name
    if "every" in slots and _EVERY.search(said):
        out["every"] = "all"
    if "level" in slots and (level := _number(tokens)) is not None:
        out["level"] = level + (" percent" if "percent" in tokens else "")
    if "list" in slots:
        out["list"] = next((LIST_ALIASES[w] for w in _LIST_WORDS if re.search(rf"\b{w}\b", said)), "shopping")
    if "items" in slots and (items := leftover(tokens, carriers)):
        out["items"] = " and ".join(split_items(items))
    if "target" in slots and (target := _target(said, tokens, carriers, devices)):
        out["target"] = target
    if "brightness" in slots:
        _brightness(said, tokens, out)
    return out


def render(templates: tuple[str, ...], values: Mapping[str, str]) -> str | None:
    """The first template whose slots are all known, filled in; None if none is complete."""
    for template in templates:
        needed = re.findall(r"\{(\w+)\}", template)
        if all(values.get(slot) for slot in needed):
            return " ".join(template.format(**{k: values[k] for k in needed}).split())
    return None


def leftover(tokens: list[str], carriers: Collection[str]) -> str:
    """The longest run of words that are neither the intent's own words nor function words ("we're out of
    eggs" → "eggs"); "and" may join two runs ("bread and butter")."""
    return max(_runs(tokens, carriers), key=len, default="")


def _runs(tokens: list[str], carriers: Collection[str]) -> list[str]:
    runs: list[list[str]] = [[]]
    for tok in tokens:
        content = tok not in carriers and tok not in FUNCTION_WORDS and tok not in LIST_ALIASES and tok != "list"
        if content or (tok == "and" and runs[-1]):
            runs[-1].append(tok)
        elif runs[-1]:
            runs.append([])
    return [" ".join(run) for run in map(_trim_and, runs) if run]


def _trim_and(run: list[str]) -> list[str]:
    while run and run[-1] == "and":
        run = run[:-1]
    return run


def _number(tokens: list[str]) -> str | None:
    for i in range(len(tokens)):
        found = parse_number(tokens, i)
        if found is not None:
            value = found[0]
            return str(int(value)) if value == int(value) else str(value)
    return None


def _target(said: str, tokens: list[str], carriers: Collection[str], devices: DeviceDirectory | None) -> str:
    """The device or area said: a configured name when one is named, else the words left over that name a
    device or an area ("it's pitch dark in the kitchen" → "kitchen"), else "in here", every light, or the
    words left over (home control then says it knows no such device)."""
    runs = _runs([t for t in tokens if not t.isdigit() and t != "percent"], carriers)
    if devices is not None:
        named = {d.name for d in devices.devices for n in (d.name, *d.aliases) if _says(said, n)}
        if len(named) == 1:
            return named.pop()
        known = {w for d in devices.devices for n in (d.name, *d.aliases, d.area) for w in normalize(n).split()}
        if naming := [run for run in runs if known & set(run.split())]:
            return max(naming, key=len)
    if _HERE.search(said):
        return "lights in here"
    if _EVERYWHERE.search(said):
        return "all the lights"
    if runs:
        return max(runs, key=len)
    return "all the lights" if _LIGHTS.search(said) else ""


def _says(said: str, name: str) -> bool:
    name = normalize(name)
    return bool(name) and re.search(rf"\b{re.escape(name)}\b", said) is not None


def _brightness(said: str, tokens: list[str], out: dict[str, str]) -> None:
    if (level := _number(tokens)) is not None:
        out["brightness"] = level
    elif re.search(r"\b(?:full|max\w*)\b", said):
        out["brightness"] = "100"
    elif re.search(r"\btoo (?:bright|harsh|glaring|strong)\b", said):  # says what is wrong, not what to do
        out["step"] = "dimmer"
    elif re.search(r"\btoo (?:dark|dim|gloomy)\b", said):
        out["step"] = "brighter"
    elif _DIMMER.search(said):
        out["step"] = "dimmer"
    elif _BRIGHTER.search(said):
        out["step"] = "brighter"
